/// Where the event loop reads a connection's next bytes (``ConnectionHandler/nextRead(now:)``).
enum ConnectionRead: Equatable {
    /// Not now: a request is being handled or answered, the client closed its
    /// side, the protocol waits for memory, or its output is backed up.
    case none
    /// Straight into the handler's own storage (a request body), `count` bytes
    /// at most (``ConnectionHandler/withDirectSpace(_:)``, then
    /// ``ConnectionHandler/directRead(_:now:admission:)``): never past its end.
    case direct(count: Int)
    /// Into the loop's read buffer, at most `limit` bytes
    /// (then ``ConnectionHandler/received(_:now:admission:)``).
    case buffer(limit: Int)
}

/// The protocol side of a connection as the event loop drives it: a plain
/// value with no socket, no timer and no loop. The loop reads where it is told,
/// hands over what it read and the events it sees (the peer closed its side,
/// the periodic tick, the server draining, body memory released), and carries
/// out the `Action`s returned; requests go to the ``RequestDispatcher`` through
/// `admission`, generic so that the hot path has no existential.
///
/// ``HTTP1StateMachine`` and ``HTTP2Session`` conform: the loop reads, and
/// passes on events, for both through the same generic code
/// (``EventLoop/readInput(_:as:)``); only carrying out their actions is each protocol's own.
protocol ConnectionHandler {
    associatedtype Action: ConnectionAction

    /// Lends `connection`'s handler of this protocol for one call.
    static func withHandler<R>(of connection: Connection, _ body: (inout Self) -> R) -> R
    /// Whether the connection is to be read (its selector interest).
    var wantsInput: Bool { get }
    /// Whether the handler began waiting for body memory since the loop last asked:
    /// the loop then retries it (``memoryReleased(now:admission:)``) once memory is released.
    mutating func takeMemoryWait() -> Bool

    /// Where to read next, and how much.
    mutating func nextRead(now: UInt64) -> ConnectionRead
    /// Lends the storage of a ``ConnectionRead/direct(count:)`` read.
    mutating func withDirectSpace<R>(_ read: (inout MutableRawSpan) -> R) -> R
    /// `count` bytes were read into ``withDirectSpace(_:)``.
    mutating func directRead<A: RequestAdmitting>(_ count: Int, now: UInt64, admission: A) -> Action
    /// Bytes read into the loop's buffer (valid during the call only).
    mutating func received<A: RequestAdmitting>(_ bytes: RawSpan, now: UInt64, admission: A) -> Action
    /// The client shut down its sending side.
    mutating func peerClosedInput() -> Action
    /// The loop's periodic check of timeouts. `underPressure`: bodies wait for memory.
    mutating func tick(now: UInt64, underPressure: Bool) -> Action
    /// Request-body memory was released.
    mutating func memoryReleased<A: RequestAdmitting>(now: UInt64, admission: A) -> Action
    /// The server began shutting down.
    mutating func beginDrain(now: UInt64)
    /// The connection is closed: memory and buffers go back.
    mutating func connectionClosed()
}

/// What a ``ConnectionHandler`` asks of the loop, carried out by the protocol's driver.
protocol ConnectionAction {
    consuming func perform(on connection: Connection, by loop: EventLoop)
}

extension HTTP1StateMachine: ConnectionHandler {
    @inline(__always)
    static func withHandler<R>(of connection: Connection, _ body: (inout HTTP1StateMachine) -> R) -> R {
        body(&connection.http1)
    }

    mutating func beginDrain(now: UInt64) { beginDrain() }
}

extension HTTP1Action: ConnectionAction {
    @inline(__always)
    consuming func perform(on connection: Connection, by loop: EventLoop) {
        loop.perform(self, on: connection)
    }
}
