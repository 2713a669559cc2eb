// Ending the session: the graceful GOAWAY of RFC 9113 §6.8, an idle
// connection's GOAWAY, a GOAWAY sent for an error, the client gone.
import Logging

extension HTTP2Session {
    static let shutdownPing: [UInt8] = Array("shutdown".utf8)

    /// Graceful shutdown (RFC 9113 §6.8): GOAWAY with the largest stream id and a
    /// PING; when the PING comes back (one round trip: every stream the client
    /// sent before it saw the notice has arrived), a GOAWAY naming the last
    /// stream we took. Streams up to it finish; the connection closes when they have.
    func beginShutdown(now: UInt64) {
        guard case .none = shutdown else { return }
        nghttp2.submitShutdownNotice(ping: Self.shutdownPing)
        shutdown = .noticeSent(at: now)
    }

    func sendFinalGoaway() {
        if case .goawaySent = shutdown { return }
        shutdown = .goawaySent
        nghttp2.submitFinalGoaway()
    }

    /// Ends an idle session with GOAWAY(NO_ERROR).
    func closeIdle() {
        nghttp2.terminate(.noError)
        shutdown = .goawaySent
    }

    /// The connection is closed: its memory goes back to the budget.
    func connectionClosed() {
        clientWentAway()
        memoryAdmitted()
        held = 0
        demand = 0
        if reserved > 0 {
            context.bodyMemory.release(reserved)
            reserved = 0
        }
    }

    /// The client closed the connection (or it is closed): the running handlers' tasks are cancelled.
    func clientWentAway() {
        for stream in streams.values where stream.state == .handling { stream.handlerTask.take()?.cancel() }
    }

    func pingAcknowledged(_ opaque: [UInt8]) {
        guard case .noticeSent = shutdown, opaque == Self.shutdownPing else { return }
        sendFinalGoaway()
    }

    func goawaySent(_ errorCode: HTTP2ErrorCode, lastStreamID: Int32) {
        if errorCode != .noError {
            logger.notice(
                "HTTP/2 connection error; sent GOAWAY",
                metadata: [
                    "peer": "\(peer)", "error": "\(errorCode)",
                    "lastStream": "\(lastStreamID)",
                ])
        }
    }
}
