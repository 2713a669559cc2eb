/// One request stream of an ``HTTP2Session``: its request as it arrives, its
/// handler, its response as nghttp2 sends it.
final class HTTP2Stream {
    enum State {
        /// Receiving the header block.
        case headers
        /// Receiving DATA frames.
        case body
        /// The route handler is running.
        case handling
        /// A response was submitted (by the handler, or by the server rejecting the request).
        case answered
    }

    let id: Int32
    // Only the loop's thread touches a stream: no dynamic exclusivity checks.
    @exclusivity(unchecked) var state = State.headers
    @exclusivity(unchecked) var method = ""
    /// The `:path` before any `?`, and the query after it.
    @exclusivity(unchecked) var path = ""
    @exclusivity(unchecked) var query: String?
    @exclusivity(unchecked) var authority: String?
    @exclusivity(unchecked) var headers: [(name: String, value: String)] = []
    /// `headers[0]` is a `host` field made from `:authority` (until a `host` field comes).
    @exclusivity(unchecked) var hostFromAuthority = false
    @exclusivity(unchecked) var sawHost = false
    @exclusivity(unchecked) var headerListSize = 0
    @exclusivity(unchecked) var headersTooLarge = false
    @exclusivity(unchecked) var body: [UInt8] = []
    /// The task running the handler, cancelled if the client resets the stream,
    /// the connection goes, or the request's time runs out.
    @exclusivity(unchecked) var handlerTask: Task<Void, Never>?
    /// When the handler started (monotonic ns), for the request timeout.
    @exclusivity(unchecked) var handlingSince: UInt64 = 0
    /// The `content-length` the client declared (nghttp2 checks the body against it).
    @exclusivity(unchecked) var declaredLength: Int?
    @exclusivity(unchecked) var sawContentLength = false
    /// Body bytes received, kept or not.
    @exclusivity(unchecked) var receivedLength = 0
    /// Body bytes acknowledged with a stream-level WINDOW_UPDATE.
    @exclusivity(unchecked) var windowAcknowledged = 0
    /// The declared body bytes still to come, counted in the session's ``HTTP2Session/demand``.
    @exclusivity(unchecked) var demand = 0
    /// The size of the body its handler holds (counted in the session's `held`).
    @exclusivity(unchecked) var handlerBytes = 0
    @exclusivity(unchecked) var route: Route?
    /// The client sent END_STREAM.
    @exclusivity(unchecked) var requestComplete = false
    @exclusivity(unchecked) var record: RequestRecord?
    @exclusivity(unchecked) var responseBody: [UInt8] = []
    @exclusivity(unchecked) var responseOffset = 0
    /// When the stream last moved (opened, body bytes in, response bytes out):
    /// a stream that stops moving is timed out even while the client keeps the connection busy.
    @exclusivity(unchecked) var lastProgress: UInt64

    init(id: Int32, now: UInt64) {
        self.id = id
        self.lastProgress = now
    }
}
