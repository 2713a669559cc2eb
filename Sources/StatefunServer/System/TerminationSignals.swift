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
                let fd: Int32
                do throws(SystemError) { fd = try Posix.makeEventFD(nonBlocking: false) } catch { throw HTTPServerError(error) }
                if cshim_install_termination_handlers(fd) != 0 {
                    let e = errno
                    Posix.close(fd)
                    throw .system("sigaction", e)
                }
                do throws(HTTPServerError) {
                    try spawnThread(name: "http-signals") { [self] in watch(fd) }
                } catch {
                    cshim_restore_termination_handlers()
                    Posix.close(fd)
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
            Posix.signalEventFD(state.fd)
            state.fd = -1
        }
    }

    private func watch(_ fd: Int32) {
        while true {
            let value = Posix.readEventFD(fd)
            let handlers = state.withLock { state -> [@Sendable () -> Void]? in
                state.fd == fd ? Array(state.subscribers.values) : nil
            }
            guard let handlers else {
                Posix.close(fd)
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
