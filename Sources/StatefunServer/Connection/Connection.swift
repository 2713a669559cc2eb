
/// The state of one client connection: its socket, its output and what the
/// event loop tracks of it. What it speaks is its ``driver``'s. Owned by, and
/// only touched on, its event loop's thread.
///
/// That ownership is why its properties skip Swift's dynamic exclusivity
/// checks: every request reads and writes several of them, and the checks cost
/// more than the accesses.
final class Connection {
    let id: UInt64
    let fd: Int32
    let peer: SocketAddress
    /// The socket file of the Unix listener that accepted the connection; nil for TCP.
    let unixSocketPath: String?
    /// `ip:port` of the client (`unix:<path>` on a Unix socket), formatted on first use.
    lazy var peerDescription: String = unixSocketPath.map { "unix:" + $0 } ?? peer.description
    /// The protocol the connection speaks: it reads, answers and writes (``ConnectionDriver``).
    /// Never replaced (a protocol that changes hands over inside its driver): a
    /// constant is called without the reference counting a variable would need.
    let driver: any ConnectionDriver
    @exclusivity(unchecked) var isClosed = false
    /// Our side is shut down and input is discarded until the client closes
    /// (``EventLoop/startLingeringClose(_:)``): the driver is done with the connection.
    @exclusivity(unchecked) var isLingering = false
    @exclusivity(unchecked) var lingerDeadline: UInt64 = 0
    /// What the loop's selector watches the socket for.
    @exclusivity(unchecked) var interest: SelectorEvents
    /// Queued for the end-of-round interest update (``EventLoop``).
    @exclusivity(unchecked) var interestPending = false
    /// Queued to be flushed once after the messages of this round (``EventLoop/flushAfterMessages(_:)``).
    @exclusivity(unchecked) var flushPending = false
    /// In the loop's list of connections waiting for memory.
    @exclusivity(unchecked) var inMemoryWaitList = false

    // Input.
    /// The client shut down its sending side (read returned 0).
    @exclusivity(unchecked) var peerClosed = false

    // Output.
    /// The bytes queued to send.
    @exclusivity(unchecked) var outbound = OutboundQueue()
    /// Bytes queued and not yet written (what the high-water mark compares).
    var outboundBytes: Int { outbound.byteCount }
    /// When output last made progress (``OutboundQueue/lastProgress``).
    var lastWriteProgress: UInt64 { outbound.lastProgress }

    init(
        id: UInt64, fd: Int32, peer: SocketAddress, unixSocketPath: String?, interest: SelectorEvents,
        driver: any ConnectionDriver
    ) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.unixSocketPath = unixSocketPath
        self.driver = driver
        self.interest = interest
    }
}
