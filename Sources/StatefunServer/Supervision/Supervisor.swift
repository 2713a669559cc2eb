public import Logging

/// Crash containment: a small parent process holds the listening sockets and
/// runs the server in worker processes (its own executable again, started
/// with `posix_spawn`), replacing a worker that dies.
///
/// A worker adopts the parent's sockets (it binds nothing; ``HTTPServer/start()``
/// finds them in its environment), so connections keep being accepted by the
/// other workers, or queue in the backlog, while a dead one is replaced; the
/// dead one's connections are lost (the StateFun runtime retries them).
///
/// - A worker that dies is restarted at once; if the new one dies too within
///   a second of its start, the next waits 100 ms, then 200 ms, 400 ms... up
///   to 5 s (a poison message the runtime keeps retrying must not spin the
///   machine); a worker that lived a second resets the back-off.
/// - Each death is logged with its signal or exit status, and with what the
///   worker's crash handler reported: the request it was handling (with
///   `describeRequest`, the function and address), and where it was dumped.
/// - A worker that exits before it serves (bad configuration, say) five times
///   in a row stops the supervisor, with the worker's exit status (1 if it was killed).
/// - SIGTERM and SIGINT are passed on to the workers (which drain as a single
///   server does); the supervisor exits once they have: 0 if they all
///   exited 0, else 1.
///
/// The parent has no event loop and no threads: it waits in `poll` for a
/// signal, a worker's report, or the end of a back-off.
public final class Supervisor {
    private let configuration: HTTPServerConfiguration
    private let workerCount: Int
    private let logger: Logger
    private let describeRequest: (([UInt8]) -> String?)?

    /// Whether this process is a worker a supervisor started (then serve, do not supervise).
    public static var isWorker: Bool { SupervisedWorker.current != nil }

    /// A worker that dies within this long of its start counts as dying at once (back-off).
    static let quickDeath: UInt64 = 1_000_000_000
    static let firstBackOff: UInt64 = 100_000_000
    static let maxBackOff: UInt64 = 5_000_000_000
    static let maxStartupFailures = 5

    /// - Parameters:
    ///   - configuration: the server's; the supervisor uses its addresses (TCP, Unix socket) and backlog.
    ///   - workers: how many worker processes to run (at least 1).
    ///   - logger: where deaths, restarts and the supervisor's start and end are logged.
    ///   - describeRequest: names what a request body was for (the service: the
    ///     function type and address), for the log line of a worker that died handling it.
    public init(
        configuration: HTTPServerConfiguration, workers: Int,
        logger: Logger = Logger(label: "statefun.supervisor"),
        describeRequest: (([UInt8]) -> String?)? = nil
    ) {
        self.configuration = configuration
        self.workerCount = max(1, workers)
        self.logger = logger
        self.describeRequest = describeRequest
    }

    private struct Worker {
        var index: Int
        var pid: Int32 = 0
        var report: Int32 = -1
        var reportOpen = false
        var received: [UInt8] = []
        var ready = false
        var startedAt: UInt64 = 0
        var quickDeaths = 0
        var startupFailures = 0
        /// When to start it again (monotonic ns), if it is not running.
        var restartAt: UInt64?
    }

    private var workers: [Worker] = []
    private var tcpFD: Int32 = -1
    private var unix: UnixListener?
    private var wakeRead: Int32 = -1
    private var handledTerminations: Int32 = 0
    private var stopping = false
    private var failedStatus: Int32?
    private var cleanExit = true

    /// Binds the listeners, runs the workers until SIGTERM or SIGINT (or until
    /// they keep failing at start-up), and returns the process's exit status.
    /// Blocks the calling thread, which must live as long (the workers' parent-death
    /// signal follows the thread that started them).
    public func run() -> Int32 {
        do throws(HTTPServerError) {
            try bindListeners()
        } catch {
            logger.error("supervisor cannot listen", metadata: ["error": "\(error)"])
            return 1
        }
        defer { closeListeners() }
        do throws(SystemError) {
            let wake = try Posix.makePipe(nonBlocking: true)
            try SupervisorSignals.install(wakeFD: wake.write)
            wakeRead = wake.read
        } catch {
            logger.error("supervisor cannot watch signals", metadata: ["error": "\(errnoDescription(error.code))"])
            return 1
        }
        var addresses: [String] = []
        if tcpFD >= 0, let address = boundAddress(tcpFD) { addresses.append(address.description) }
        if let unix { addresses.append("unix:" + unix.path) }
        logger.info(
            "supervisor listening; starting workers",
            metadata: ["addresses": "\(addresses.joined(separator: ", "))", "workers": "\(workerCount)", "pid": "\(Processes.currentID)"])
        workers = (1...workerCount).map { Worker(index: $0) }
        for i in workers.indices { spawn(i) }

        while true {
            if !stopping && failedStatus == nil { startDue() }
            if let failedStatus, workers.allSatisfy({ $0.pid == 0 }) {
                logger.error("supervisor stops: workers keep failing at start-up", metadata: ["status": "\(failedStatus)"])
                return failedStatus
            }
            if stopping && workers.allSatisfy({ $0.pid == 0 }) { break }
            waitForEvents()
            drainWake()
            handleTerminations()
            readReports()
            reap()
        }
        logger.info("supervisor stopped; all workers exited", metadata: ["clean": "\(cleanExit)"])
        return cleanExit ? 0 : 1
    }

    // MARK: - Listeners

    private func bindListeners() throws(HTTPServerError) {
        raiseFileDescriptorLimit()
        guard configuration.tcpEnabled || configuration.unixSocketPath != nil else {
            throw HTTPServerError(.invalidConfiguration, "nothing to listen on: TCP is disabled and no Unix socket path is set")
        }
        if configuration.tcpEnabled {
            let address = try SocketAddress.resolve(host: configuration.host, port: configuration.port)
            tcpFD = try makeBoundSocket(address, reusePort: false, listenBacklog: configuration.backlog)
        }
        if let path = configuration.unixSocketPath {
            do throws(HTTPServerError) {
                unix = try makeUnixListener(
                    path: path, permissions: configuration.unixSocketPermissions, backlog: configuration.backlog)
            } catch {
                closeListeners()
                throw error
            }
        }
    }

    /// Closes the supervisor's sockets (the workers keep theirs until they drain) and removes the socket file.
    private func closeListeners() {
        if tcpFD >= 0 { Posix.close(tcpFD) }
        tcpFD = -1
        if let unix {
            unix.unlinkFile()
            Posix.close(unix.fd)
        }
        unix = nil
    }

    // MARK: - Workers

    private func spawn(_ i: Int) {
        let report: (read: Int32, write: Int32)
        do throws(SystemError) {
            report = try Posix.makePipe(nonBlocking: false)
        } catch {
            logger.error("cannot create a worker's report pipe", metadata: ["error": "\(errnoDescription(error.code))"])
            workers[i].restartAt = monotonicNanos() &+ Self.maxBackOff
            return
        }
        var environment: [String: String] = [
            SupervisedWorker.indexVariable: "\(workers[i].index)",
            SupervisedWorker.parentVariable: "\(Processes.currentID)",
            SupervisedWorker.reportVariable: "\(report.write)",
        ]
        var inherited = [report.write]
        if tcpFD >= 0 {
            environment[SupervisedWorker.tcpVariable] = "\(tcpFD)"
            inherited.append(tcpFD)
        }
        if let unix {
            environment[SupervisedWorker.unixVariable] = "\(unix.fd)"
            environment[SupervisedWorker.unixPathVariable] = unix.path
            inherited.append(unix.fd)
        }
        let result = ProcessSpawn.spawnSelf(inheriting: inherited, environment: environment)
        Posix.close(report.write)
        Posix.setNonBlocking(report.read)  // read when poll says so, never waited on
        switch result {
        case .success(let pid):
            workers[i].pid = pid
            workers[i].report = report.read
            workers[i].reportOpen = true
            workers[i].received = []
            workers[i].ready = false
            workers[i].startedAt = monotonicNanos()
            workers[i].restartAt = nil
            logger.info("worker started", metadata: ["worker": "\(workers[i].index)", "pid": "\(pid)"])
        case .failure(let error):
            Posix.close(report.read)
            logger.error("cannot start a worker", metadata: ["worker": "\(workers[i].index)", "error": "\(error)"])
            workers[i].restartAt = monotonicNanos() &+ Self.maxBackOff
        }
    }

    private func startDue() {
        let now = monotonicNanos()
        for i in workers.indices where workers[i].pid == 0 {
            if let at = workers[i].restartAt, at <= now { spawn(i) }
        }
    }

    // MARK: - Events

    private func waitForEvents() {
        var descriptors = [wakeRead]
        for worker in workers where worker.pid != 0 && worker.reportOpen { descriptors.append(worker.report) }
        var timeout: Int32 = -1
        if !stopping && failedStatus == nil, let next = workers.compactMap(\.restartAt).min() {
            let now = monotonicNanos()
            timeout = next <= now ? 0 : Int32(min(60_000, (next - now + 999_999) / 1_000_000))
        }
        Processes.waitForInput(descriptors, timeoutMilliseconds: timeout)  // a signal: handled below
    }

    private func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while case .processed(let n)? = try? Posix.read(wakeRead, into: &buffer), n > 0 {}
    }

    private func handleTerminations() {
        let count = SupervisorSignals.terminations
        guard count > handledTerminations else { return }
        handledTerminations = count
        let signal = SupervisorSignals.lastTermination
        if !stopping {
            stopping = true
            logger.notice(
                "supervisor received \(signalDescription(signal)); passing it on to the workers and waiting for them to drain")
            // New connections now go to the workers' own sockets until they close them.
            closeListeners()
        }
        for worker in workers where worker.pid != 0 { Processes.send(signal, to: worker.pid) }
    }

    private func readReports() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        for i in workers.indices where workers[i].pid != 0 && workers[i].reportOpen {
            reading: while true {
                switch try? Posix.read(workers[i].report, into: &buffer) {
                case .processed(let n) where n > 0:
                    workers[i].received += buffer[..<n]
                    if n < buffer.count { break reading }
                case .processed:
                    workers[i].reportOpen = false  // the worker is gone (or closed it)
                    break reading
                default:  // nothing more for now, or an error
                    break reading
                }
            }
            if !workers[i].ready, workers[i].received.starts(with: Array("ready\n".utf8)) {
                workers[i].ready = true
                workers[i].startupFailures = 0
                workers[i].received.removeFirst(6)
            }
        }
    }

    private func reap() {
        while true {
            guard let (pid, status) = Processes.reapExited() else { return }
            guard let i = workers.firstIndex(where: { $0.pid == pid }) else { continue }
            workerDied(i, status: status)
        }
    }

    private func workerDied(_ i: Int, status: Int32) {
        // What the worker wrote before it died (the crash handler's line comes last).
        if workers[i].reportOpen {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while case .processed(let n)? = try? Posix.read(workers[i].report, into: &buffer), n > 0 {
                workers[i].received += buffer[..<n]
            }
        }
        Posix.close(workers[i].report)
        let worker = workers[i]
        workers[i].pid = 0
        workers[i].report = -1
        workers[i].reportOpen = false

        let now = monotonicNanos()
        let uptime = now &- worker.startedAt
        let signaled = status & 0x7f != 0 && status & 0x7f != 0x7f
        let exitCode = (status >> 8) & 0xff
        let how = signaled ? "was killed by signal \(signalDescription(status & 0x7f))" : "exited with status \(exitCode)"

        var metadata: Logger.Metadata = [
            "worker": "\(worker.index)", "pid": "\(worker.pid)",
            "uptime": "\(Double(uptime / 1_000_000) / 1000) s",
        ]
        if let crash = CrashReport(worker.received) {
            if !crash.summary.isEmpty { metadata["request"] = "\(crash.summary) (\(crash.length) bytes)" }
            // The whole dumped body if there is one, else its start.
            if let describe = describeRequest, let what = describe(crash.dumpPath.flatMap(readFile) ?? crash.bodyPrefix) {
                metadata["function"] = "\(what)"
            }
            if let path = crash.dumpPath {
                metadata["dump"] = "\(path)"
                metadata["replay"] = "\(path.dropLast(5)).txt"
            }
        }

        if stopping {
            let clean = signaled ? status & 0x7f == Processes.terminate || status & 0x7f == Processes.interrupt : exitCode == 0
            if !clean { cleanExit = false }
            logger.info("worker \(how) while stopping", metadata: metadata)
            return
        }
        if !worker.ready {
            workers[i].startupFailures += 1
            if workers[i].startupFailures >= Self.maxStartupFailures {
                logger.error(
                    "worker \(how) before serving, \(workers[i].startupFailures) times in a row; not restarting it",
                    metadata: metadata)
                failedStatus = signaled || exitCode == 0 ? 1 : exitCode
                // The others are stopped too: the supervisor exits once they have.
                for other in workers where other.pid != 0 { Processes.send(Processes.terminate, to: other.pid) }
                return
            }
        }
        if uptime < Self.quickDeath || !worker.ready {
            workers[i].quickDeaths += 1
        } else {
            workers[i].quickDeaths = 0
        }
        let quick = workers[i].quickDeaths
        // The first death at once is restarted at once too; the next ones wait longer and longer.
        let delay: UInt64 =
            quick <= 1 ? 0 : min(Self.maxBackOff, Self.firstBackOff << UInt64(min(quick - 2, 16)))
        workers[i].restartAt = now &+ delay
        let restart = delay == 0 ? "restarting it now" : "restarting it in \(delay / 1_000_000) ms (it died again at once)"
        if worker.ready {
            logger.error("worker \(how); \(restart)", metadata: metadata)
        } else {
            logger.error("worker \(how) before serving; \(restart)", metadata: metadata)
        }
    }

    private func readFile(_ path: String) -> [UInt8]? {
        guard let fd = Processes.openForReading(path) else { return nil }
        defer { Posix.close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < 64 << 20, case .processed(let n)? = try? Posix.read(fd, into: &buffer), n > 0 {
            bytes += buffer[..<n]
        }
        return bytes
    }
}

/// What a worker's crash handler wrote on its report pipe:
/// `crash SIGNAME summary length dump-body-path` (tab-separated, one line),
/// then `body N` and the first N bytes of the request's body.
struct CrashReport {
    var signal: String
    var summary: String
    var length: Int
    var dumpPath: String?
    var bodyPrefix: [UInt8]

    init?(_ received: [UInt8]) {
        let marker = Array("crash\t".utf8)
        var start: Int?
        var index = 0
        while index + marker.count <= received.count {  // at the start of a line
            if received[index..<index + marker.count].elementsEqual(marker) { start = index; break }
            guard let newline = received[index...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            index = newline + 1
        }
        guard let start, let end = received[start...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let fields = received[start..<end].split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard fields.count >= 5 else { return nil }
        signal = fields[1]
        summary = fields[2]
        length = Int(fields[3]) ?? 0
        dumpPath = fields[4].isEmpty ? nil : fields[4]
        bodyPrefix = []
        let rest = received[(end + 1)...]
        if rest.starts(with: Array("body\t".utf8)), let newline = rest.firstIndex(of: UInt8(ascii: "\n")),
            let count = Int(String(decoding: rest[(rest.startIndex + 5)..<newline], as: UTF8.self))
        {
            bodyPrefix = Array(rest[(newline + 1)...].prefix(count))
        }
    }
}
