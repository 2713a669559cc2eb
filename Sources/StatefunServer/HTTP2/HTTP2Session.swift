// HTTP/2 on one connection. nghttp2 (behind the wall, System/NGHTTP2Session.swift)
// does the framing, HPACK, flow control, stream states and protocol errors; this
// session does the rest: requests on streams (HTTP2Session+Requests), their
// responses (+Responses), body memory, floods and timeouts (+Limits), and
// shutdown (+Shutdown).
import Logging

/// The client connection preface: what a prior-knowledge HTTP/2 client sends first.
let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

/// The HTTP/2 side of a connection, a ``ConnectionHandler`` as HTTP/1.1's is:
/// takes the bytes read and the events of its driver (a handler's response, a
/// shutdown, a sweep of timeouts), and produces the bytes to write
/// (``produce(limit:)``). It knows no socket and no loop: its requests go to
/// its ``HTTP2SessionOwner`` (the shared dispatcher and request log). Only
/// touched on its driver's thread.
final class HTTP2Session {
    private(set) var nghttp2: NGHTTP2Session!
    let owner: any HTTP2SessionOwner
    let context: ServerContext
    /// The connection, as the handlers' responses name it (``LoopMessage``).
    let connectionID: UInt64
    /// Monotonic nanoseconds, as of the driver's last input (it sets it before each call).
    @exclusivity(unchecked) var now: UInt64
    /// When input last arrived, for the idle timeout.
    @exclusivity(unchecked) var lastInput: UInt64
    /// The client shut down its sending side.
    @exclusivity(unchecked) var peerClosed = false
    /// The window stays narrower than the streams need until body memory is
    /// released (``takeMemoryWait()``, then ``replenishWindow()`` again).
    @exclusivity(unchecked) var memoryWaitRequested = false
    /// The client, for the logs.
    let peer: String
    @exclusivity(unchecked) var streams: [Int32: HTTP2Stream] = [:]
    /// The stream looked up last: a request's callbacks (its header fields,
    /// the end of its headers, its body) come one after another for one stream.
    @exclusivity(unchecked) var lastStream: HTTP2Stream?
    /// Streams whose handler is running.
    @exclusivity(unchecked) var handlersRunning = 0
    /// Streams the client reset while their handler ran: the handler task still
    /// runs (and holds its memory) until it returns. Counted against
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` with the running ones, so a client
    /// opening and resetting streams in a loop (CVE-2023-44487, "rapid reset")
    /// cannot start more handlers than that at once.
    /// The size of each one's body, still held by its handler (counted in `held`).
    @exclusivity(unchecked) var orphanedHandlers: [Int32: Int] = [:]
    @exclusivity(unchecked) var refusedForOrphans = false
    /// Requests whose handlers run synchronously, completed by the last input,
    /// answered after nghttp2 has returned; the first `nextReadyRequest` are done.
    @exclusivity(unchecked) var readyRequests: [(id: Int32, route: Route, request: ServerRequest)] = []
    @exclusivity(unchecked) var nextReadyRequest = 0
    /// The last `:path` read and its path and query, reused while clients post to one path.
    @exclusivity(unchecked) var lastTarget: (bytes: [UInt8], path: String, query: String?) = ([], "", nil)

    enum Shutdown {
        case none
        /// GOAWAY(2^31-1) and a PING sent; the final GOAWAY follows the PING's ACK.
        case noticeSent(at: UInt64)
        case goawaySent
    }

    @exclusivity(unchecked) var shutdown = Shutdown.none

    // Request-body memory (BodyMemoryBudget). The connection-level receive window
    // is ours (nghttp2's automatic WINDOW_UPDATEs are off): it starts at the
    // protocol's 65,535 bytes and widens only as far as memory is reserved for,
    // so `held + window - 65,535 <= reserved` at all times.
    /// Body bytes held: in streams' bodies, and in the requests of running handlers.
    @exclusivity(unchecked) var held = 0
    /// Bytes reserved from the server's budget.
    @exclusivity(unchecked) var reserved = 0
    /// The declared body bytes still to come on streams receiving their bodies.
    @exclusivity(unchecked) var demand = 0
    /// Since when the window has been narrower than the streams need for want of memory.
    @exclusivity(unchecked) var memoryWaitSince: UInt64?
    /// Empty DATA frames without END_STREAM in a row (a flood: ``maxConsecutiveEmptyData``).
    @exclusivity(unchecked) var consecutiveEmptyData = 0

    var configuration: HTTPServerConfiguration { context.configuration }
    var logger: Logger { context.logger }

    /// Starts the session: our SETTINGS and connection window are queued. For an
    /// HTTP/1.1 `Upgrade: h2c`, `upgrade` carries the decoded `HTTP2-Settings`
    /// payload, and stream 1 is opened half-closed for the request already read.
    init(
        context: ServerContext, owner: any HTTP2SessionOwner, connection: UInt64 = 0, peer: String, now: UInt64 = 0,
        upgrade: (settings: [UInt8], headRequest: Bool)? = nil
    ) throws(HTTPServerError) {
        self.context = context
        self.owner = owner
        self.connectionID = connection
        self.peer = peer
        self.now = now
        self.lastInput = now
        let http2 = context.configuration.http2
        let settings = NGHTTP2Session.Settings(
            maxConcurrentStreams: http2.maxConcurrentStreams,
            initialWindowSize: min(max(http2.initialStreamWindowSize, 65535), Int(Int32.max)),
            maxFrameSize: min(max(http2.maxFrameSize, 16384), 16_777_215),
            maxHeaderListSize: context.configuration.maxHeaderSize)
        nghttp2 = try NGHTTP2Session(events: self, settings: settings, upgrade: upgrade)
    }

    // MARK: - Input and output

    /// Feeds bytes read from the socket. Returns false on a fatal session error
    /// (the connection must be closed once any GOAWAY queued is written).
    func receive(_ bytes: RawSpan) -> Bool {
        guard let error = nghttp2.receive(bytes) else { return true }
        logger.notice(
            "HTTP/2 connection failed",
            metadata: ["peer": "\(peer)", "error": "\(NGHTTP2Session.describe(error))"])
        return false
    }

    /// Serializes queued frames, up to about `limit` bytes. Nil on a fatal error.
    func produce(limit: Int) -> [UInt8]? {
        var output: [UInt8] = []
        if let error = nghttp2.send(into: &output, limit: limit) {
            logger.notice(
                "HTTP/2 connection failed",
                metadata: ["peer": "\(peer)", "error": "\(NGHTTP2Session.describe(error))"])
            return nil
        }
        return output
    }

    /// True when the session is over: nghttp2 wants neither to read nor to write.
    var isFinished: Bool { nghttp2.isFinished }

    @inline(__always) func stream(_ id: Int32) -> HTTP2Stream? {
        if let last = lastStream, last.id == id { return last }
        let found = streams[id]
        if found != nil { lastStream = found }
        return found
    }

    /// nghttp2 rejected a frame (it answers it as the protocol says).
    func invalidFrame(_ type: UInt8, stream: Int32, error: String) {
        logger.debug(
            "invalid HTTP/2 frame",
            metadata: ["peer": "\(peer)", "type": "\(type)", "stream": "\(stream)", "error": "\(error)"])
    }
}
