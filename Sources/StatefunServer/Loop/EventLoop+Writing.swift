import Logging

extension EventLoop {
    /// Queues `bytes` to be written on the connection (by ``flush(_:)``).
    func enqueue(_ connection: Connection, _ bytes: [UInt8]) {
        connection.outbound.append(bytes, now: now)
    }

    enum WriteResult {
        case drained
        case blocked
        case failed
    }

    /// Writes queued output until it is all written or the socket is full;
    /// closes the connection if a write fails.
    func writeOutbound(_ connection: Connection) -> WriteResult {
        guard !connection.isClosed else { return .failed }
        switch connection.outbound.write(to: connection.fd, now: now) {
        case .drained:
            return .drained
        case .wouldBlock:
            return .blocked
        case .failed(let error):
            logger.debug(
                "write failed", metadata: ["peer": "\(connection.peerDescription)", "error": "\(errnoDescription(error.code))"])
            closeConnection(connection)
            return .failed
        }
    }

    /// Writes what the connection's driver has queued, and what its protocol has
    /// to send, as far as the socket takes it (``ConnectionDriver/flush(_:loop:)``).
    func flush(_ connection: Connection) {
        guard !connection.isClosed, !connection.isLingering else { return }
        connection.driver.flush(connection, loop: self)
    }

    /// Shuts down our sending side and discards input until the client closes
    /// (or a short timeout), so the last answer is not destroyed by a TCP reset.
    /// The driver is done with the connection.
    func startLingeringClose(_ connection: Connection) {
        if connection.peerClosed {
            closeConnection(connection)
            return
        }
        Posix.shutdownOutput(connection.fd)
        connection.isLingering = true
        connection.driver.connectionClosed(connection)
        connection.lingerDeadline = now + context.lingerTimeout
        if draining { connection.lingerDeadline = min(connection.lingerDeadline, drainDeadline) }
        updateInterest(connection)
    }

    /// Notes that the connection's epoll interest may have changed. The change is
    /// made once the round's events and handler jobs are done (``applyInterest()``):
    /// a request answered within the round leaves the interest where it was,
    /// and costs no `epoll_ctl` at all (epoll is level-triggered, so deferring loses nothing).
    func updateInterest(_ connection: Connection) {
        guard !connection.isClosed, !connection.interestPending else { return }
        connection.interestPending = true
        interestPending.append(connection)
    }

    /// Makes the interest changes noted this round.
    func applyInterest() {
        guard !interestPending.isEmpty else { return }
        // Walked as a local: the drivers asked below cannot reach it, so its
        // connections need no retaining around the calls (the list is put back, emptied, for its capacity).
        var pending: [Connection] = []
        swap(&pending, &interestPending)
        for connection in pending {
            connection.interestPending = false
            guard !connection.isClosed else { continue }
            var wanted: SelectorEvents
            if connection.isLingering {
                wanted = .readable
            } else {
                wanted = connection.driver.inputInterest
                // Backpressure: a client that does not read its responses is not read from either.
                if connection.outboundBytes >= Self.outboundHighWater { wanted.remove(.readable) }
            }
            if !connection.outbound.isEmpty { wanted.insert(.writable) }
            if wanted != connection.interest {
                connection.interest = wanted
                _ = try? selector.reregister(connection.fd, token: connection.id, interest: wanted)
            }
        }
        pending.removeAll(keepingCapacity: true)
        if interestPending.isEmpty { swap(&pending, &interestPending) }
    }

    func closeConnection(_ connection: Connection) {
        guard !connection.isClosed else { return }
        connection.isClosed = true
        if !connection.isLingering { connection.driver.connectionClosed(connection) }
        Posix.close(connection.fd)  // also removes it from the epoll set
        connections[connection.id] = nil
        connection.outbound.removeAll()
        context.metrics.connectionsOpen.decrement()
    }
}
