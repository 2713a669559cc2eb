import CLinuxShims
import Glibc
import Logging

extension EventLoop {
    func enqueue(_ connection: Connection, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if connection.outbound.isEmpty { connection.lastWriteProgress = now }
        connection.outbound.append(bytes)
        connection.outboundBytes += bytes.count
    }

    enum WriteResult {
        case drained
        case blocked
        case failed
    }

    /// Writes queued output until it is all written or the socket is full.
    func writeOutbound(_ connection: Connection) -> WriteResult {
        guard !connection.isClosed else { return .failed }
        while !connection.outbound.isEmpty {
            let offset = connection.outboundOffset
            let written: Int
            if connection.outbound.count >= 2 {
                written = connection.outbound[0].withUnsafeBytes { first in
                    connection.outbound[1].withUnsafeBytes { second in
                        cshim_send2(
                            connection.fd, first.baseAddress! + offset, first.count - offset,
                            second.baseAddress, second.count)
                    }
                }
            } else {
                written = connection.outbound[0].withUnsafeBytes { first in
                    cshim_send(connection.fd, first.baseAddress! + offset, first.count - offset)
                }
            }
            if written < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { return .blocked }
                logger.debug("write failed", metadata: ["peer": "\(connection.peerDescription)", "error": "\(errnoDescription(e))"])
                closeConnection(connection)
                return .failed
            }
            connection.lastWriteProgress = now
            connection.outboundBytes -= written
            if connection.outboundBytes == 0 {
                // All of it went (the common case): no element is looked at or shifted.
                connection.outbound.removeAll(keepingCapacity: true)
                connection.outboundOffset = 0
                break
            }
            var remaining = written + offset
            while remaining > 0, let first = connection.outbound.first, remaining >= first.count {
                remaining -= first.count
                connection.outbound.removeFirst()
            }
            connection.outboundOffset = remaining
        }
        return .drained
    }

    /// Writes as much queued output as the socket takes; registers for EPOLLOUT otherwise.
    /// On HTTP/2 connections, pulls frames from nghttp2 as the output drains.
    func flush(_ connection: Connection) {
        guard !connection.isClosed else { return }
        if connection.phase == .http2, let session = connection.http2 {
            session.replenishWindow()
            while true {
                if connection.outboundBytes < Self.http2HighWater {
                    guard let more = session.produce(limit: Self.http2HighWater - connection.outboundBytes) else {
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
            if session.isFinished || (connection.peerClosed && session.handlersRunning == 0) {
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
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .lingering
        connection.http1.connectionClosed()
        connection.lingerDeadline = now + context.lingerTimeout
        if draining { connection.lingerDeadline = min(connection.lingerDeadline, drainDeadline) }
        updateInterest(connection)
    }

    func discardLingeringInput(_ connection: Connection) {
        for _ in 0..<4 {
            let n = read(connection.fd, readBuffer.baseAddress, readBuffer.count)
            if n > 0 {
                if n < readBuffer.count { return }
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
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
            var wanted: UInt32 = wantsRead(connection) ? EPOLLIN : 0
            // While a handler runs the connection is not read, but its closing is watched.
            if connection.handlerTask != nil && !connection.closeSeen { wanted |= EPOLLRDHUP }
            if !connection.outbound.isEmpty { wanted |= EPOLLOUT }
            if wanted != connection.interest {
                connection.interest = wanted
                _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_mod(), connection.fd, wanted, connection.id)
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
        close(connection.fd)  // also removes it from the epoll set
        connections[connection.id] = nil
        connection.outbound = []
        connection.outboundBytes = 0
        context.metrics.connectionsOpen.decrement()
    }
}
