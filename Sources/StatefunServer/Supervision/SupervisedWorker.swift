import StatefunLocks

/// What a ``Supervisor`` hands a worker process it starts, through the
/// environment: the listening sockets to adopt (the worker binds nothing) and
/// the pipe it reports on (`ready` once serving; the crash handler's line).
struct SupervisedWorker: Sendable {
    /// 1-based, for logs.
    var index: Int
    var tcpFD: Int32?
    var unixFD: Int32?
    var unixPath: String?
    var reportFD: Int32

    static let indexVariable = "STATEFUN_WORKER_INDEX"
    static let parentVariable = "STATEFUN_WORKER_PARENT"
    static let tcpVariable = "STATEFUN_WORKER_TCP_FD"
    static let unixVariable = "STATEFUN_WORKER_UNIX_FD"
    static let unixPathVariable = "STATEFUN_WORKER_UNIX_PATH"
    static let reportVariable = "STATEFUN_WORKER_REPORT_FD"

    /// This process's hand-over, read (and removed from the environment, so
    /// that the functions' own children do not see it) on first use.
    static let current: SupervisedWorker? = {
        func take(_ name: String) -> String? { SystemInfo.takeEnvironmentVariable(name) }
        let index = take(indexVariable).flatMap(Int.init)
        let parent = take(parentVariable).flatMap(Int32.init)
        let tcp = take(tcpVariable).flatMap(Int32.init)
        let unix = take(unixVariable).flatMap(Int32.init)
        let unixPath = take(unixPathVariable)
        let report = take(reportVariable).flatMap(Int32.init)
        guard let index, let report else { return nil }
        // (That the worker goes when the supervisor goes is set up before main: supervisor.c.)
        _ = parent
        // Inherited without close-on-exec; not to be passed on further.
        for fd in [tcp, unix, report].compactMap({ $0 }) { Posix.setCloseOnExec(fd, true) }
        return SupervisedWorker(index: index, tcpFD: tcp, unixFD: unix, unixPath: unixPath, reportFD: report)
    }()

    private static let unclaimed = Lock(true)

    /// The hand-over, for the first server started in this process only.
    static func claim() -> SupervisedWorker? {
        guard let current, unclaimed.withLock({ unclaimed in defer { unclaimed = false }; return unclaimed }) else {
            return nil
        }
        return current
    }

    /// Tells the supervisor the worker serves.
    func reportReady() {
        try? Posix.writeAll(reportFD, Array("ready\n".utf8))
    }
}
