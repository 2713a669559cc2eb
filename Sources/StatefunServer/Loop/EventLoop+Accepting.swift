import Logging

extension EventLoop {
    /// Connections accepted per wake-up of a listener, before the loop's other work goes on.
    static let acceptBatch = 64
    /// How long listeners pause when the process is out of descriptors or memory.
    static let listenerPause: UInt64 = 100_000_000

    /// Accepts the connections waiting on `listener`.
    func acceptConnections(_ listener: Listener) {
        let failure = listener.accept(limit: Self.acceptBatch) { fd, peer in
            openConnection(fd, peer: peer, unixSocketPath: listener.unixSocketPath)
        }
        guard let failure else { return }
        if now - lastAcceptErrorLog > 10_000_000_000 || lastAcceptErrorLog == 0 {
            lastAcceptErrorLog = now
            logger.warning(
                "accept failed; pausing the listener for 100 ms",
                metadata: ["error": "\(errnoDescription(failure.code))", "loop": "\(index)"])
        }
        pauseListener()
    }

    /// Registers an accepted socket and starts reading it.
    func openConnection(_ fd: Int32, peer: SocketAddress, unixSocketPath: String?) {
        let id = nextConnectionID
        nextConnectionID += 1
        let connection = Connection(
            id: id, fd: fd, peer: peer, unixSocketPath: unixSocketPath, interest: .readable,
            driver: drivers.makeDriver(now: now, draining: draining))
        do throws(SystemError) {
            try selector.register(fd, token: id, interest: .readable)
        } catch {
            logger.error("epoll_ctl(ADD) failed", metadata: ["error": "\(errnoDescription(error.code))"])
            Posix.close(fd)
            return
        }
        connections[id] = connection
        context.metrics.connectionsAccepted.increment()
        context.metrics.connectionsOpen.increment()
    }

    /// Pauses every listener of the loop for ``listenerPause``: the waiting
    /// connection stays queued, and a level-triggered listener would spin.
    func pauseListener() {
        for listener in listeners { listener.pause(selector) }
        listenerResumeAt = now + Self.listenerPause
    }

    func resumeListener() {
        listenerResumeAt = nil
        for listener in listeners { listener.resume(selector) }
    }

    func closeListeners() {
        for listener in listeners { listener.close(selector) }
        listenerResumeAt = nil
    }
}
