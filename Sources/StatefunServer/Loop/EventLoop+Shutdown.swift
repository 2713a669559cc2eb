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
            switch connection.phase {
            case .http1:
                switch connection.http1.state {
                case .head, .body:
                    perform(connection.http1.tick(now: now, underPressure: underPressure), on: connection)
                case .handling:
                    cancelHandlerIfTimedOut(connection)
                case .responding:
                    if now - connection.lastWriteProgress > context.idleTimeout {
                        logger.notice(
                            "client stopped reading the response; closing",
                            metadata: ["peer": "\(connection.peerDescription)"])
                        closeConnection(connection)
                    }
                case .done:
                    break
                }
            case .lingering:
                if now >= connection.lingerDeadline { closeConnection(connection) }
            case .http2:
                if !connection.outbound.isEmpty && now - connection.lastWriteProgress > context.idleTimeout {
                    logger.notice(
                        "client stopped reading the response; closing",
                        metadata: ["peer": "\(connection.peerDescription)"])
                    closeConnection(connection)
                } else {
                    HTTP2Session.withHandler(of: connection) { $0.tick(now: now, underPressure: underPressure) }
                        .perform(on: connection, by: self)
                }
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
        for connection in Array(connections.values) where !connection.isClosed {
            switch connection.phase {
            case .http1:
                // From now on every answer closes its connection.
                connection.http1.beginDrain(now: now)
                guard connection.http1.isIdle else { continue }
                // Idle keep-alive connection. A request may already wait in the socket: serve it (with
                // Connection: close) rather than reset it; close the connection if there is none.
                readable(connection)
                if !connection.isClosed && connection.phase == .http1 && connection.http1.isIdle { closeConnection(connection) }
            case .lingering:
                connection.lingerDeadline = min(connection.lingerDeadline, drainDeadline)
            case .http2:
                HTTP2Session.withHandler(of: connection) { $0.beginDrain(now: now) }
                flush(connection)
            }
        }
    }
}
