// Connections waiting for request-body memory (BodyMemoryBudget): an HTTP/1.1
// body the bound has no room for (HTTP1StateMachine), an HTTP/2 session short
// of window. A release wakes the loop, which lets them try again.

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
            guard !connection.isClosed else { continue }
            switch connection.phase {
            case .http2:
                // The window widens if it can (before the write), or the session waits again.
                HTTP2Session.withHandler(of: connection) { $0.memoryReleased(now: now, admission: dispatcher) }
                    .perform(on: connection, by: self)
            case .http1:
                guard connection.http1.waitsForMemory else { continue }
                perform(connection.http1.memoryReleased(now: now, admission: dispatcher), on: connection)
                if !connection.isClosed { updateInterest(connection) }
            case .lingering:
                break
            }
        }
    }
}

/// The `Retry-After` of a request shed for memory, in seconds.
let bodyMemoryRetryAfter = "1"
