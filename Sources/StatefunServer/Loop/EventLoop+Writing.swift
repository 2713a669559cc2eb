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

    /// Writes as much queued output as the socket takes; watches for writability otherwise.
    /// On HTTP/2 connections, pulls frames from nghttp2 as the output drains.
    func flush(_ connection: Connection) {
        guard !connection.isClosed else { return }
        if connection.phase == .http2, let session = connection.http2 {
            session.now = now
            session.replenishWindow()
            if session.takeMemoryWait() { registerMemoryWaiter(connection) }
            while true {
                if connection.outbound.byteCount < Self.outboundHighWater {
                    guard let more = session.produce(limit: Self.outboundHighWater - connection.outbound.byteCount) else {
                        closeConnection(connection)
                        return
                    }
                    enqueue(connection, more)
                }
                if connection.outbound.isEmpty { break }
                switch writeOutbound(connection) {
                case .failed: return
                case .blocked:
                    updateInterest(connection)
                    return
                case .drained: continue
                }
            }
            if session.isDone {
                startLingeringClose(connection)
            } else {
                updateInterest(connection)
            }
            return
        }
        if case .failed = writeOutbound(connection) { return }
        if connection.outbound.isEmpty && connection.responseInFlight {
            responseCompleted(connection)
        } else {
            updateInterest(connection)
        }
    }

    /// Shuts down our sending side and discards input until the client closes
    /// (or a short timeout), so the response is not destroyed by a TCP reset.
    func startLingeringClose(_ connection: Connection) {
        if connection.peerClosed {
            closeConnection(connection)
            return
        }
        Posix.shutdownOutput(connection.fd)
        connection.phase = .lingering
        connection.http1.connectionClosed()
        connection.lingerDeadline = now + context.lingerTimeout
        if draining { connection.lingerDeadline = min(connection.lingerDeadline, drainDeadline) }
        updateInterest(connection)
    }

    func discardLingeringInput(_ connection: Connection) {
        for _ in 0..<4 {
            switch try? readBuffer.read(from: connection.fd, limit: readBuffer.capacity) {
            case .processed(let n) where n > 0:
                if n < readBuffer.capacity { return }
            case .wouldBlock:
                return
            default:  // the end of input, or an error
                closeConnection(connection)
                return
            }
        }
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
        for connection in interestPending {
            connection.interestPending = false
            guard !connection.isClosed else { continue }
            var wanted: SelectorEvents = wantsRead(connection) ? .readable : []
            // While a handler runs the connection is not read, but its closing is watched.
            if connection.handlerTask != nil && !connection.closeSeen { wanted.insert(.readHangup) }
            if !connection.outbound.isEmpty { wanted.insert(.writable) }
            if wanted != connection.interest {
                connection.interest = wanted
                _ = try? selector.reregister(connection.fd, token: connection.id, interest: wanted)
            }
        }
        interestPending.removeAll(keepingCapacity: true)
    }

    func closeConnection(_ connection: Connection) {
        guard !connection.isClosed else { return }
        connection.isClosed = true
        connection.handlerTask.take()?.cancel()
        connection.http1.connectionClosed()
        connection.http2?.connectionClosed()
        Posix.close(connection.fd)  // also removes it from the epoll set
        connections[connection.id] = nil
        connection.outbound.removeAll()
        context.metrics.connectionsOpen.decrement()
    }
}
