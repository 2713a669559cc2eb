
/// The state of one client connection. Owned by, and only touched on, its event loop's thread.
///
/// That ownership is why its properties skip Swift's dynamic exclusivity
/// checks: every request reads and writes dozens of them, and the checks cost
/// more than the accesses.
final class Connection {
    enum Phase {
        /// The connection speaks HTTP/1.1 (``Connection/http1`` drives it).
        case http1
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
    /// The HTTP/1.1 protocol: input, the request being read, keep-alive.
    @exclusivity(unchecked) var http1: HTTP1StateMachine
    /// The HTTP/2 session, once the connection has switched (preface or `Upgrade: h2c`).
    @exclusivity(unchecked) var http2: HTTP2Session?
    @exclusivity(unchecked) var phase = Phase.http1
    @exclusivity(unchecked) var isClosed = false
    /// What the loop's selector watches the socket for.
    @exclusivity(unchecked) var interest: SelectorEvents
    /// Queued for the end-of-round interest update (``EventLoop``).
    @exclusivity(unchecked) var interestPending = false
    /// An HTTP/2 connection with answers submitted this round, flushed once after them (``EventLoop``).
    @exclusivity(unchecked) var flushPending = false

    // Input.
    /// The client shut down its sending side (read returned 0).
    @exclusivity(unchecked) var peerClosed = false

    // The HTTP/1.1 request being handled.
    /// The task running the request's handler, cancelled if the client goes
    /// away or the request's time runs out (``HTTPServerConfiguration/requestTimeout``).
    @exclusivity(unchecked) var handlerTask: Task<Void, Never>?
    /// When the handler started (monotonic ns), for the request timeout.
    @exclusivity(unchecked) var handlingSince: UInt64 = 0
    /// The client's FIN was seen while a handler ran (EPOLLRDHUP, which stays
    /// reported once seen): not watched for again.
    @exclusivity(unchecked) var closeSeen = false
    /// In the loop's list of connections waiting for memory.
    @exclusivity(unchecked) var inMemoryWaitList = false

    // Output.
    /// The bytes queued to send.
    @exclusivity(unchecked) var outbound = OutboundQueue()
    /// Bytes queued and not yet written (what the HTTP/2 high-water mark compares).
    var outboundBytes: Int { outbound.byteCount }
    /// When output last made progress (``OutboundQueue/lastProgress``).
    var lastWriteProgress: UInt64 { outbound.lastProgress }
    /// Set when the response being written ends this connection's request/response cycle.
    @exclusivity(unchecked) var responseInFlight = false

    @exclusivity(unchecked) var lingerDeadline: UInt64 = 0

    init(
        id: UInt64, fd: Int32, peer: SocketAddress, unixSocketPath: String?, interest: SelectorEvents,
        http1: HTTP1StateMachine
    ) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.unixSocketPath = unixSocketPath
        self.http1 = http1
        self.interest = interest
    }
}
