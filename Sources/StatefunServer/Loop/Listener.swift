
/// A listening socket of one event loop: its own `SO_REUSEPORT` TCP socket,
/// or its duplicate of a socket every loop shares (the Unix socket, or a
/// supervisor's TCP socket), watched exclusively so a new connection wakes one
/// loop, not all.
///
/// It accepts connections in batches, is paused (taken out of the selector)
/// while the process is out of descriptors or memory, and is closed on
/// shutdown. The Unix socket's file belongs to the server, not to a loop's
/// duplicate: ``UnixListener/unlinkFile()`` removes it.
final class Listener {
    private(set) var fd: Int32
    /// The socket file of a Unix listener; nil for TCP.
    let unixSocketPath: String?
    /// A duplicate of a socket other loops (or processes) listen on too.
    let shared: Bool
    /// Its token in the loop's selector (set by ``register(with:token:)``).
    private(set) var token: UInt64 = 0
    /// Out of the selector until ``resume(_:)``.
    private(set) var isPaused = false

    /// Takes ownership of `fd`, a listening socket.
    init(fd: Int32, unixSocketPath: String?, shared: Bool = false) {
        self.fd = fd
        self.unixSocketPath = unixSocketPath
        self.shared = shared
    }

    var isOpen: Bool { fd >= 0 }

    /// What the selector watches it for.
    var interest: SelectorEvents { unixSocketPath == nil && !shared ? .readable : [.readable, .exclusive] }

    func register(with selector: Selector, token: UInt64) throws(SystemError) {
        self.token = token
        try selector.register(fd, token: token, interest: interest)
    }

    /// Accepts up to `limit` pending connections, handing each (a non-blocking
    /// socket and its peer) to `body`; TCP connections get `TCP_NODELAY`.
    ///
    /// - Returns: nil once none is pending or `limit` were accepted; the error
    ///   if the process or system is out of a resource (`EMFILE`, `ENFILE`,
    ///   `ENOBUFS`, `ENOMEM`...). The connection then stays queued, and a
    ///   level-triggered listener would wake the loop again at once: the
    ///   caller pauses it.
    func accept(limit: Int, _ body: (Int32, SocketAddress) -> Void) -> SystemError? {
        for _ in 0..<limit where isOpen {
            do throws(SystemError) {
                guard case .processed(let accepted) = try Posix.accept(fd) else { return nil }
                if unixSocketPath == nil { Posix.setNoDelay(accepted.fd) }
                body(accepted.fd, accepted.peer)
            } catch {
                if error.isAbortedConnection { continue }  // that connection is gone; the next may wait
                return error
            }
        }
        return nil
    }

    /// Stops watching it: connections queue in its backlog meanwhile.
    /// Removed rather than modified: an exclusive registration cannot be modified.
    func pause(_ selector: Selector) {
        guard isOpen, !isPaused else { return }
        isPaused = true
        _ = try? selector.deregister(fd)
    }

    /// Watches it again after ``pause(_:)``.
    func resume(_ selector: Selector) {
        guard isOpen, isPaused else { return }
        isPaused = false
        _ = try? selector.register(fd, token: token, interest: interest)
    }

    /// Closes the socket (this loop's descriptor of it).
    func close(_ selector: Selector) {
        guard isOpen else { return }
        // Explicitly: a descriptor whose socket other loops still hold open (a dup) stays in the set otherwise.
        if !isPaused { _ = try? selector.deregister(fd) }
        Posix.close(fd)
        fd = -1
        isPaused = false
    }

    /// Closes a listener never registered with a selector (a loop that failed to start).
    func closeUnregistered() {
        guard isOpen else { return }
        Posix.close(fd)
        fd = -1
    }
}
