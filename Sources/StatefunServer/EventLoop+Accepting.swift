import CLinuxShims
import Glibc
import Logging

extension EventLoop {
    func acceptConnections(_ listener: Listener) {
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutableBytes(of: &storage) { raw in
                cshim_accept4(listener.fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
            if fd < 0 {
                let e = errno
                switch e {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                default:
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM...: the pending connection stays
                    // queued, so a level-triggered listener would spin. Pause it briefly.
                    if now - lastAcceptErrorLog > 10_000_000_000 || lastAcceptErrorLog == 0 {
                        lastAcceptErrorLog = now
                        logger.warning(
                            "accept failed; pausing the listener for 100 ms",
                            metadata: ["error": "\(errnoDescription(e))", "loop": "\(index)"])
                    }
                    pauseListener()
                    return
                }
            }
            if listener.unixSocketPath == nil { setIntOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
            let id = nextConnectionID
            nextConnectionID += 1
            let peer = SocketAddress(storage: storage, length: length)
            let connection = Connection(
                id: id, fd: fd, peer: peer, unixSocketPath: listener.unixSocketPath, interest: EPOLLIN, now: now,
                http1: newHTTP1(now: now))
            if cshim_epoll_ctl(epollFD, cshim_epoll_ctl_add(), fd, EPOLLIN, id) != 0 {
                logger.error("epoll_ctl(ADD) failed", metadata: ["error": "\(errnoDescription(errno))"])
                close(fd)
                continue
            }
            connections[id] = connection
            context.metrics.connectionsAccepted.increment()
            context.metrics.connectionsOpen.increment()
        }
    }

    // Removed and re-added rather than modified: EPOLLEXCLUSIVE registrations cannot be modified.
    func pauseListener() {
        for (i, listener) in listeners.enumerated() where listener.fd >= 0 {
            _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_del(), listener.fd, 0, 1 + UInt64(i))
        }
        listenerResumeAt = now + 100_000_000
    }

    func resumeListener() {
        listenerResumeAt = nil
        for (i, listener) in listeners.enumerated() where listener.fd >= 0 {
            _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_add(), listener.fd, Self.listenerEvents(listener), 1 + UInt64(i))
        }
    }

    func closeListeners() {
        for i in listeners.indices where listeners[i].fd >= 0 {
            // Explicitly: a descriptor whose socket other loops still hold open (a dup) stays in the set otherwise.
            _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_del(), listeners[i].fd, 0, 1 + UInt64(i))
            close(listeners[i].fd)
            listeners[i].fd = -1
        }
        listenerResumeAt = nil
    }
}
