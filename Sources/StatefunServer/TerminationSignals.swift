import CLinuxShims
import Glibc
import StatefunLocks

/// Process-wide SIGINT/SIGTERM fan-out for ``HTTPServer/run()``.
///
/// The C handler only writes to an eventfd (async-signal-safe); a dedicated
/// thread blocked on that eventfd calls the subscribers. Handlers are installed
/// while at least one subscriber exists, and the previous dispositions restored after.
final class TerminationSignals: Sendable {
    private struct State {
        var subscribers: [UInt64: @Sendable () -> Void] = [:]
        var nextToken: UInt64 = 0
        /// The eventfd of the current watcher thread, or -1.
        var fd: Int32 = -1
    }

    private let state = Lock(State())

    func subscribe(_ handler: @escaping @Sendable () -> Void) throws(HTTPServerError) -> UInt64 {
        try state.withLock { state throws(HTTPServerError) -> UInt64 in
            if state.fd < 0 {
                let fd = cshim_eventfd(0)
                if fd < 0 { throw .system("eventfd", errno) }
                if cshim_install_termination_handlers(fd) != 0 {
                    let e = errno
                    close(fd)
                    throw .system("sigaction", e)
                }
                do throws(HTTPServerError) {
                    try spawnThread(name: "http-signals") { [self] in watch(fd) }
                } catch {
                    cshim_restore_termination_handlers()
                    close(fd)
                    throw error
                }
                state.fd = fd
            }
            let token = state.nextToken
            state.nextToken += 1
            state.subscribers[token] = handler
            return token
        }
    }

    func unsubscribe(_ token: UInt64) {
        state.withLock { state in
            state.subscribers[token] = nil
            guard state.subscribers.isEmpty, state.fd >= 0 else { return }
            cshim_restore_termination_handlers()
            // Wake the watcher; seeing that it is no longer current, it closes its fd and exits.
            var one: UInt64 = 1
            _ = write(state.fd, &one, 8)
            state.fd = -1
        }
    }

    private func watch(_ fd: Int32) {
        while true {
            var value: UInt64 = 0
            let n = read(fd, &value, 8)
            if n < 0 && errno == EINTR { continue }
            let handlers = state.withLock { state -> [@Sendable () -> Void]? in
                state.fd == fd ? Array(state.subscribers.values) : nil
            }
            guard let handlers else {
                close(fd)
                return
            }
            for _ in 0..<max(1, Int(value)) {
                for handler in handlers { handler() }
            }
        }
    }
}

/// The process's single ``TerminationSignals`` instance.
let terminationSignals = TerminationSignals()
