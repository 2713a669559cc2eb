// Connections waiting for request-body memory (BodyMemoryBudget): their
// drivers asked to (an HTTP/1.1 body the bound has no room for, an HTTP/2
// session short of window). A release wakes the loop, which lets them try again.

extension EventLoop {
    /// Puts `connection` on the list retried when memory is released, and asks the budget for a wake-up.
    func registerMemoryWaiter(_ connection: Connection) {
        if !connection.inMemoryWaitList {
            connection.inMemoryWaitList = true
            memoryWaiters.append(connection)
        }
        _ = context.bodyMemory.waitForMemory(loop: index)
    }

    /// Memory was released: the waiting connections try again, oldest first.
    func resumeMemoryWaiters() {
        guard !memoryWaiters.isEmpty else { return }
        let waiters = memoryWaiters
        memoryWaiters.removeAll()
        for connection in waiters {
            connection.inMemoryWaitList = false
            guard !connection.isClosed, !connection.isLingering else { continue }
            connection.driver.memoryReleased(connection, loop: self)
        }
    }
}

/// The `Retry-After` of a request shed for memory, in seconds.
let bodyMemoryRetryAfter = "1"
