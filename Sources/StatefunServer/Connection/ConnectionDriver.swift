/// The protocol a connection speaks, as its event loop sees it: the one
/// interface between the loop (sockets, the selector, timers, output) and a
/// protocol (HTTP/1.1, HTTP/2). The loop tells the driver what happened to the
/// connection; the driver answers with the loop's socket-level operations:
/// ``EventLoop/readInput(_:_:)``, ``EventLoop/enqueue(_:_:)``,
/// ``EventLoop/writeOutbound(_:)``, ``EventLoop/updateInterest(_:)``,
/// ``EventLoop/startLingeringClose(_:)``, ``EventLoop/closeConnection(_:)``,
/// ``EventLoop/registerMemoryWaiter(_:)``.
///
/// One per connection, owned by it (``Connection/driver``); called on the
/// loop's thread only. A driver carries out the actions of its protocol's state
/// machine (``ConnectionHandler``), which does no I/O and is tested without a socket.
/// The loop and the connection are passed in rather than held: a reference
/// held per connection would cost reference counting on every event.
protocol ConnectionDriver: AnyObject {
    /// The socket is readable (input, or its end): read what the protocol wants (``EventLoop/readInput(_:_:)``).
    func readable(_ connection: Connection, loop: EventLoop)
    /// Write the queued output, and whatever the protocol has to send, as far as the socket takes it.
    func flush(_ connection: Connection, loop: EventLoop)
    /// The client shut down its side while the protocol watched for it (``SelectorEvents/readHangup``).
    func readHangup(_ connection: Connection, loop: EventLoop)
    /// The loop's periodic check of the protocol's timeouts. `underPressure`: bodies wait for memory.
    func tick(_ connection: Connection, loop: EventLoop, underPressure: Bool)
    /// The server began shutting down.
    func beginDrain(_ connection: Connection, loop: EventLoop)
    /// Request-body memory was released (the driver asked to wait for it: ``EventLoop/registerMemoryWaiter(_:)``).
    func memoryReleased(_ connection: Connection, loop: EventLoop)
    /// A handler's task answered request `exchange` (the id the driver gave the dispatcher).
    func handlerFinished(_ connection: Connection, loop: EventLoop, exchange: Int32, _ response: ServerResponse)
    /// The input events the protocol watches for now (``SelectorEvents/readable``,
    /// ``SelectorEvents/readHangup``); the loop adds writability and backpressure.
    var inputInterest: SelectorEvents { get }
    /// The connection is closed, or lingers: the protocol's memory goes back and its handlers are cancelled.
    func connectionClosed(_ connection: Connection)
}

/// The reading side of a driver: what ``EventLoop/readInput(_:_:)`` asks of it.
/// Generic there, so that a protocol's reads are specialized for it.
protocol InputConsumer: ConnectionDriver {
    /// What the protocol asks for after an input (its state machine's action).
    associatedtype Action

    /// Where to read next, and how much (registering a memory wait if the protocol began one).
    func nextRead(_ connection: Connection, loop: EventLoop) -> ConnectionRead
    /// Lends the storage of a ``ConnectionRead/direct(count:)`` read.
    func withDirectSpace<R>(_ read: (inout MutableRawSpan) -> R) -> R
    /// `count` bytes were read into ``withDirectSpace(_:)``.
    func directRead(_ count: Int, now: UInt64) -> Action
    /// Bytes were read into the loop's buffer (valid during the call only).
    func received(_ bytes: RawSpan, now: UInt64) -> Action
    /// Carries out what the protocol asked for after an input.
    func perform(_ action: consuming Action, on connection: Connection, loop: EventLoop)
    /// The client shut down its sending side (a read returned 0).
    func inputEnded(_ connection: Connection, loop: EventLoop)
}

/// Makes each new connection's driver: what the loop's connections speak first.
protocol ConnectionDriverFactory: AnyObject {
    func makeDriver(now: UInt64, draining: Bool) -> any ConnectionDriver
}
