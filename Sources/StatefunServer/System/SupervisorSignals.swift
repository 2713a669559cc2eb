import CLinuxShims

/// The supervisor's signal handlers (C, async-signal-safe): SIGCHLD, SIGTERM
/// and SIGINT write a byte to its wake-up pipe; termination signals are counted.
enum SupervisorSignals {
    /// Installs the handlers; `wakeFD` is the write end of a non-blocking pipe.
    static func install(wakeFD: Int32) throws(SystemError) {
        _ = try syscallValue("sigaction") { cshim_supervisor_install_signals(wakeFD) }
    }

    /// The termination signals (SIGTERM, SIGINT) received so far.
    static var terminations: Int32 { cshim_supervisor_terminations() }

    /// The last termination signal received, or 0.
    static var lastTermination: Int32 { cshim_supervisor_last_termination() }
}

extension Posix {
    /// A close-on-exec pipe (`pipe2`); with `nonBlocking`, both ends are non-blocking.
    static func makePipe(nonBlocking: Bool) throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try syscallValue("pipe2") { cshim_pipe(&fds, nonBlocking ? 1 : 0) }
        return (fds[0], fds[1])
    }
}
