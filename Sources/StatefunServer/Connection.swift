import Glibc

/// The state of one client connection. Owned by, and only touched on, its event loop's thread.
///
/// That ownership is why its properties skip Swift's dynamic exclusivity
/// checks: every request reads and writes dozens of them, and the checks cost
/// more than the accesses.
final class Connection {
    enum Phase {
        /// Waiting for (the rest of) a request head; idle if nothing is buffered.
        case head
        /// Reading the body of the current request.
        case body
        /// The route handler is running; nothing is read meanwhile.
        case handling
        /// Writing the response; nothing is read meanwhile.
        case responding
        /// The last response is written and our side is shut down; discarding
        /// input until the client closes, so unread data does not turn our FIN into an RST.
        case lingering
        /// The connection speaks HTTP/2; ``Connection/http2`` drives it.
        case http2
    }

    let id: UInt64
    let fd: Int32
    let peer: SocketAddress
    /// The socket file of the Unix listener that accepted the connection; nil for TCP.
    let unixSocketPath: String?
    /// `ip:port` of the client (`unix:<path>` on a Unix socket), formatted on first use.
    lazy var peerDescription: String = unixSocketPath.map { "unix:" + $0 } ?? peer.description
    /// The HTTP/2 session, once the connection has switched (preface or `Upgrade: h2c`).
    @exclusivity(unchecked) var http2: HTTP2Session?
    /// Until the first request head: the input may still turn out to be the HTTP/2 preface.
    @exclusivity(unchecked) var mayBePreface: Bool
    @exclusivity(unchecked) var phase = Phase.head
    @exclusivity(unchecked) var isClosed = false
    /// What the loop's selector watches the socket for.
    @exclusivity(unchecked) var interest: SelectorEvents
    /// Queued for the end-of-round interest update (``EventLoop``).
    @exclusivity(unchecked) var interestPending = false
    /// An HTTP/2 connection with answers submitted this round, flushed once after them (``EventLoop``).
    @exclusivity(unchecked) var flushPending = false

    // Input.
    @exclusivity(unchecked) var inbound: [UInt8] = []
    /// Bytes before this index are consumed.
    @exclusivity(unchecked) var inboundStart = 0
    /// Where the head scan resumes (bytes before were checked already).
    @exclusivity(unchecked) var scanResume = 0
    /// When the first byte of the current request head arrived.
    @exclusivity(unchecked) var headStartedAt: UInt64?
    @exclusivity(unchecked) var lastActivity: UInt64
    /// The client shut down its sending side (read returned 0).
    @exclusivity(unchecked) var peerClosed = false

    // The request being read or handled.
    /// The task running the request's handler, cancelled if the client goes
    /// away or the request's time runs out (``HTTPServerConfiguration/requestTimeout``).
    @exclusivity(unchecked) var handlerTask: Task<Void, Never>?
    /// When the handler started (monotonic ns), for the request timeout.
    @exclusivity(unchecked) var handlingSince: UInt64 = 0
    /// The client's FIN was seen while a handler ran (EPOLLRDHUP, which stays
    /// reported once seen): not watched for again.
    @exclusivity(unchecked) var closeSeen = false
    @exclusivity(unchecked) var head: ParsedHead?
    @exclusivity(unchecked) var route: Route?
    @exclusivity(unchecked) var body: [UInt8] = []
    @exclusivity(unchecked) var bodyRemaining = 0
    /// A fixed-length body of moderate size is allocated whole when its first
    /// bytes arrive (`body.count` is then the declared length) and read
    /// straight into: `bodyFilled` bytes of it have arrived. Otherwise `body`
    /// grows as bytes arrive and this is `nil`.
    @exclusivity(unchecked) var bodyFilled: Int?
    @exclusivity(unchecked) var chunkedDecoder: ChunkedDecoder?
    /// Bytes of the server's body-memory bound (``BodyMemoryBudget``) the
    /// current body holds: what it has beyond the connection's allowance.
    @exclusivity(unchecked) var bodyReserved = 0
    /// The body needs memory the bound has not got: the connection is not read meanwhile.
    @exclusivity(unchecked) var memoryBlocked = false
    /// Since when the body has been waiting for memory (nil: it is not), for the shed deadline.
    @exclusivity(unchecked) var memoryWaitSince: UInt64?
    /// In the loop's list of connections waiting for memory.
    @exclusivity(unchecked) var inMemoryWaitList = false
    /// The body of a request answered without a handler (404, 405) is read and
    /// dropped, then ``pendingRejection`` is sent and the connection kept.
    @exclusivity(unchecked) var discardingBody = false
    @exclusivity(unchecked) var pendingRejection: PendingRejection?
    /// The last request head, to parse a repeat of it by comparison.
    @exclusivity(unchecked) var headCache = HeadCache()
    /// The last request had a fixed-length body of at least `EventLoop.largeBody` bytes.
    @exclusivity(unchecked) var sentLargeBody = false
    @exclusivity(unchecked) var closeAfterResponse = false
    /// What the logs and metrics need of the request being handled.
    @exclusivity(unchecked) var record: RequestRecord?
    /// How the response to the request being handled is framed (set when it is dispatched).
    @exclusivity(unchecked) var responseFraming = (http10: false, headRequest: false)

    // Output.
    /// The bytes queued to send.
    @exclusivity(unchecked) var outbound = OutboundQueue()
    /// Bytes queued and not yet written (what the HTTP/2 high-water mark compares).
    var outboundBytes: Int { outbound.byteCount }
    /// When output last made progress (``OutboundQueue/lastProgress``).
    var lastWriteProgress: UInt64 { outbound.lastProgress }
    /// Set when the response being written ends this connection's request/response cycle.
    @exclusivity(unchecked) var responseInFlight = false

    /// An answer without a handler, sent once the request's body is discarded.
    struct PendingRejection {
        var error: HTTPError
        var extraHeaders: [(name: String, value: String)]
        var headRequest: Bool
        var http10: Bool
    }

    @exclusivity(unchecked) var lingerDeadline: UInt64 = 0

    init(
        id: UInt64, fd: Int32, peer: SocketAddress, unixSocketPath: String?, interest: SelectorEvents, now: UInt64,
        mayBePreface: Bool
    ) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.unixSocketPath = unixSocketPath
        self.mayBePreface = mayBePreface
        self.interest = interest
        self.lastActivity = now
    }

    var hasBufferedInput: Bool { inboundStart < inbound.count }

    /// Allocates a body read whole (``bodyFilled``) if it is not yet: no byte
    /// of it is read before all have arrived.
    func allocateWholeBody() {
        guard bodyFilled == 0, body.isEmpty else { return }
        let length = bodyRemaining
        body = [UInt8](unsafeUninitializedCapacity: length) { _, count in count = length }
    }

    /// Drops consumed input so the buffer does not grow without bound.
    func compactInbound() {
        if inboundStart == 0 { return }
        if inboundStart >= inbound.count {
            if inbound.capacity > 64 * 1024 {
                inbound = []
            } else {
                inbound.removeAll(keepingCapacity: true)
            }
            scanResume = 0
            inboundStart = 0
        } else if inboundStart >= 16 * 1024 || inboundStart * 2 >= inbound.count {
            inbound.removeFirst(inboundStart)
            scanResume = max(0, scanResume - inboundStart)
            inboundStart = 0
        }
    }

    /// Forgets the finished request so the next one can be read.
    /// Frees the input buffer of a connection waiting for its next request once
    /// it has grown past a small request's size: thousands of idle keep-alive
    /// connections must not each hold the buffer of their largest request.
    func releaseIdleBuffers() {
        guard phase == .head, inboundStart >= inbound.count, inbound.capacity > 4096 else { return }
        inbound = []
        inboundStart = 0
        scanResume = 0
    }

    func resetRequest() {
        head = nil
        route = nil
        body = []
        bodyRemaining = 0
        bodyFilled = nil
        chunkedDecoder = nil
        headStartedAt = nil
        record = nil
        discardingBody = false
        pendingRejection = nil
    }
}
