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

/// The protocol side of a connection: a plain value with no socket, no timer
/// and no loop. It takes what was read and the events of the connection (the
/// peer closed its side, the periodic tick, the server draining, body memory
/// released), and returns `Action`s; requests go to the ``RequestDispatcher``
/// through `admission`, generic so that the hot path has no existential.
///
/// ``HTTP1StateMachine`` and ``HTTP2Session`` conform, and are unit-tested
/// through it; each protocol's ``ConnectionDriver`` feeds it from the loop and
/// carries out its actions.
protocol ConnectionHandler {
    associatedtype Action

    /// Whether the connection is to be read (its selector interest).
    var wantsInput: Bool { get }
    /// Whether the handler began waiting for body memory since the driver last asked:
    /// the driver then retries it (``memoryReleased(now:admission:)``) once memory is released.
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
