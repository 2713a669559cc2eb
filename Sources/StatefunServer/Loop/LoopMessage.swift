/// Work handed to a loop from other threads.
enum LoopMessage: Sendable {
    /// A handler finished: write its response on the connection (`stream` 0: HTTP/1.x).
    case response(connection: UInt64, stream: Int32, ServerResponse)
    /// Stop accepting, finish in-flight requests, force-close at `deadline` (monotonic ns).
    case shutdown(deadline: UInt64)
    /// A job of a handler task preferring this loop (``LoopExecutor``), enqueued from another thread.
    case job(UnownedJob)
    /// Request-body memory was released: connections waiting for it may go on (``BodyMemoryBudget``).
    case memoryReleased
}
