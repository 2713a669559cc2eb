// Answers the server gives without a handler that keep, or end, a connection
// cleanly: a 404/405 on a connection whose framing is known, and a GOAWAY for
// a connection that began as HTTP/2 but whose preface is wrong.

/// The bytes of the HTTP/2 preface's request line, `PRI * HTTP/2.0\r\n`: a
/// connection that begins with them is HTTP/2 (prior knowledge) whatever follows.
let http2PrefaceRequestLine = 16

/// GOAWAY(last stream 0, PROTOCOL_ERROR): RFC 9113 §3.4, an invalid connection preface.
let invalidPrefaceGoaway: [UInt8] = [
    0, 0, 8, 0x7, 0, 0, 0, 0, 0,  // length 8, GOAWAY, no flags, stream 0
    0, 0, 0, 0,  // last stream id
    0, 0, 0, 1,  // PROTOCOL_ERROR
]

extension EventLoop {
    /// Answers a request no route takes (404, 405) and keeps the connection
    /// open when its framing is known and the client keeps it: a body of
    /// declared length is read and dropped first (as nginx does). A chunked
    /// body, `Expect: 100-continue` or a body larger than the limit closes it, as before.
    func rejectKeepingFraming(
        _ connection: Connection, _ head: borrowing ParsedHead, _ error: HTTPError,
        extraHeaders: [(name: String, value: String)] = []
    ) {
        let headRequest = head.method == "HEAD"
        let http10 = head.version == .http10
        let length = head.contentLength ?? 0
        guard head.keepAlive, !head.chunked, !head.expectContinue, length <= context.configuration.maxBodySize else {
            reject(connection, error, extraHeaders: extraHeaders, headRequest: headRequest)
            return
        }
        guard length > 0 else {
            reject(connection, error, extraHeaders: extraHeaders, headRequest: headRequest, keepAlive: true, http10: http10)
            return
        }
        connection.pendingRejection = Connection.PendingRejection(
            error: error, extraHeaders: extraHeaders, headRequest: headRequest, http10: http10)
        connection.discardingBody = true
        connection.phase = .body
        connection.body = []
        connection.bodyFilled = nil
        connection.bodyRemaining = length
    }

    /// The body of a request answered without a handler is discarded: answer it, keeping the connection.
    func sendPendingRejection(_ connection: Connection) {
        guard let pending = connection.pendingRejection.take() else { return }
        connection.discardingBody = false
        reject(
            connection, pending.error, extraHeaders: pending.extraHeaders, headRequest: pending.headRequest,
            keepAlive: true, http10: pending.http10)
    }

    /// The connection began with the HTTP/2 preface's request line and went on
    /// with something else: GOAWAY(PROTOCOL_ERROR) and close (RFC 9113 §3.4),
    /// not an HTTP/1.1 answer the client cannot read.
    func rejectInvalidPreface(_ connection: Connection) {
        logger.notice(
            "invalid HTTP/2 connection preface; sent GOAWAY(PROTOCOL_ERROR)",
            metadata: ["peer": "\(connection.peerDescription)"])
        connection.mayBePreface = false
        connection.headStartedAt = nil
        connection.phase = .responding
        connection.responseInFlight = true
        connection.closeAfterResponse = true
        connection.inbound = []
        connection.inboundStart = 0
        connection.scanResume = 0
        enqueue(connection, invalidPrefaceGoaway)
        flush(connection)
    }
}
