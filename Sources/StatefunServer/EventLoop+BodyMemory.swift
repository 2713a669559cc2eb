// HTTP/1.1 request bodies under the server's body-memory bound (BodyMemoryBudget):
// memory is reserved as body bytes are taken; a connection whose body cannot get
// it is not read until memory is released, and shed with 503 if it waits too long.

extension EventLoop {
    /// How many of `count` more bytes the current body of `connection` may take
    /// now (`0...count`), reserving the memory they need. Short of memory, the
    /// connection waits (it is not read) until some is released.
    ///
    /// A body allocated whole (``Connection/bodyFilled``) needs its declared
    /// length at once: all of `count` or nothing.
    @inline(__always)
    func admitBody(_ connection: Connection, _ count: Int) -> Int {
        let total = connection.bodyFilled.map { $0 + connection.bodyRemaining } ?? connection.body.count + count
        let needed = total - BodyMemoryBudget.perConnectionAllowance - connection.bodyReserved
        if needed <= 0 { return count }
        return admitBodyBeyondAllowance(connection, count, needed: needed)
    }

    @inline(never)
    private func admitBodyBeyondAllowance(_ connection: Connection, _ count: Int, needed: Int) -> Int {
        if connection.discardingBody { return count }
        let budget = context.bodyMemory
        if connection.body.count + count - BodyMemoryBudget.perConnectionAllowance > budget.limit {
            // A body of unknown length (chunked) outgrowing the whole bound can never fit.
            reject(connection, HTTPError(413, "request body exceeds the server's body memory of \(budget.limit) bytes"))
            return 0
        }
        let whole = connection.bodyFilled != nil
        let granted = budget.reserve(upTo: needed)
        if whole && granted < needed {
            budget.release(granted)
            waitForBodyMemory(connection)
            return 0
        }
        connection.bodyReserved += granted
        if granted < needed {
            waitForBodyMemory(connection)
            return count - (needed - granted)
        }
        bodyMemoryAdmitted(connection)
        return count
    }

    /// Gives back what a chunked body reserved for its framing: it holds what it decoded.
    func trimBodyReservation(_ connection: Connection) {
        let wanted = max(0, connection.body.count - BodyMemoryBudget.perConnectionAllowance)
        guard connection.bodyReserved > wanted else { return }
        context.bodyMemory.release(connection.bodyReserved - wanted)
        connection.bodyReserved = wanted
    }

    /// The request's body is gone (handled, rejected, or the connection closed): its memory is released.
    func releaseBodyMemory(_ connection: Connection) {
        bodyMemoryAdmitted(connection)
        guard connection.bodyReserved > 0 else { return }
        let reserved = connection.bodyReserved
        connection.bodyReserved = 0
        context.bodyMemory.release(reserved)
    }

    /// Stops reading `connection` until memory is released (or its wait is too long: ``shedForMemory(_:)``).
    private func waitForBodyMemory(_ connection: Connection) {
        connection.memoryBlocked = true
        if connection.memoryWaitSince == nil {
            connection.memoryWaitSince = now
            context.bodyMemory.countWaiter(1)
        }
        registerMemoryWaiter(connection)
    }

    private func bodyMemoryAdmitted(_ connection: Connection) {
        connection.memoryBlocked = false
        if connection.memoryWaitSince != nil {
            connection.memoryWaitSince = nil
            context.bodyMemory.countWaiter(-1)
        }
    }

    /// Puts `connection` (HTTP/1.1, or an HTTP/2 session short of window) on the
    /// list retried when memory is released, and asks the budget for a wake-up.
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
            if connection.phase == .http2 {
                flush(connection)  // widens the window if it can, or waits again
                continue
            }
            guard connection.memoryBlocked, connection.phase == .body else { continue }
            connection.memoryBlocked = false
            process(connection)
            if !connection.isClosed { updateInterest(connection) }
        }
    }

    /// Sheds, with 503 and `Retry-After`, a body that waited for memory longer
    /// than ``HTTPServerConfiguration/bodyMemoryWait``, or that holds memory
    /// and made no progress for as long while other bodies wait for memory.
    /// Returns whether it did. `underPressure`: whether bodies waited for memory
    /// when the sweep began.
    func shedForMemory(_ connection: Connection, underPressure: Bool) -> Bool {
        let wait = context.bodyMemoryWait
        let budget = context.bodyMemory
        let reason: String
        if let since = connection.memoryWaitSince, now - since > wait {
            reason = "request body waited for memory for more than \(context.configuration.bodyMemoryWait)"
        } else if connection.bodyReserved > 0 && underPressure && now - connection.lastActivity > wait {
            reason = "request body made no progress for \(context.configuration.bodyMemoryWait) while others waited for memory"
        } else {
            return false
        }
        reject(
            connection, HTTPError(503, "\(reason) (the server's body memory is \(budget.limit) bytes)"),
            extraHeaders: [(name: "Retry-After", value: bodyMemoryRetryAfter)])
        return true
    }
}

/// The `Retry-After` of a request shed for memory, in seconds.
let bodyMemoryRetryAfter = "1"
