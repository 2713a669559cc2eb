/// Work handed to a loop from other threads.
enum LoopMessage: Sendable {
    /// A handler finished: its response goes to the connection's driver, with
    /// the id the driver gave the request (``ConnectionDriver/handlerFinished(_:loop:exchange:_:)``).
    case response(connection: UInt64, exchange: Int32, ServerResponse)
    /// Stop accepting, finish in-flight requests, force-close at `deadline` (monotonic ns).
    case shutdown(deadline: UInt64)
    /// A job of a handler task preferring this loop (``LoopExecutor``), enqueued from another thread.
    case job(UnownedJob)
    /// Request-body memory was released: connections waiting for it may go on (``BodyMemoryBudget``).
    case memoryReleased
}
