import Logging

extension EventLoop {
    /// The periodic check of every connection's timeouts.
    func sweep() {
        // A safety net for a wake-up missed between a failed reservation and a release.
        resumeMemoryWaiters()
        // Whether bodies wait for memory, as the sweep begins: every stalled body is
        // judged by it, not by what the connections shed before it in this sweep left.
        let underPressure = context.bodyMemory.underPressure
        for connection in Array(connections.values) where !connection.isClosed {
            if connection.isLingering {
                if now >= connection.lingerDeadline { closeConnection(connection) }
            } else {
                connection.driver.tick(connection, loop: self, underPressure: underPressure)
            }
        }
    }

    func beginDrain(deadline: UInt64) {
        if draining {
            drainDeadline = min(drainDeadline, deadline)
            return
        }
        draining = true
        drainDeadline = deadline
        // Connections the kernel has already established wait in the listeners' queues:
        // closing a listener would reset them, requests sent and all. Take them first,
        // so that the loop below serves what they sent (with Connection: close, or GOAWAY).
        for listener in listeners where listener.fd >= 0 { acceptConnections(listener) }
        closeListeners()
        // Each protocol finishes its own way: an idle HTTP/1.1 connection closes, HTTP/2 sends GOAWAY.
        for connection in Array(connections.values) where !connection.isClosed {
            if connection.isLingering {
                connection.lingerDeadline = min(connection.lingerDeadline, drainDeadline)
            } else {
                connection.driver.beginDrain(connection, loop: self)
            }
        }
    }
}
