import Glibc

/// The process calls of the supervisor: its own id, signals to its workers,
/// reaping them, and waiting on their report pipes.
enum Processes {
    /// `SIGTERM` and `SIGINT`, the signals that stop the server.
    static let terminate = SIGTERM
    static let interrupt = SIGINT

    /// This process's id.
    static var currentID: Int32 { getpid() }

    /// Sends `signal` to the process `pid`.
    static func send(_ signal: Int32, to pid: Int32) {
        _ = kill(pid, signal)
    }

    /// A child that has exited, and its wait status; nil when none has (never waits).
    static func reapExited() -> (pid: Int32, status: Int32)? {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        return pid > 0 ? (pid, status) : nil
    }

    /// Waits until one of `descriptors` is readable, a signal arrives, or
    /// `timeoutMilliseconds` pass (-1: no timeout).
    static func waitForInput(_ descriptors: [Int32], timeoutMilliseconds: Int32) {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        _ = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)  // EINTR: a signal, which the caller handles
    }

    /// Opens `path` for reading; nil if it cannot.
    static func openForReading(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }
}
