public import ArgumentParser
import Logging
public import StatefulFunctions
import StatefunServer
import StatefunService
#if canImport(Glibc)
import Glibc
#endif

/// The operator's command line of a module's executable (every example, and a user's own
/// module): the options, each of which falls back to
/// an environment variable, then to its default.
public struct ServeOptions: ParsableArguments {
    @Option(help: "The address to listen on (env STATEFUN_HOST).")
    public var host: String = environment("STATEFUN_HOST") ?? "0.0.0.0"

    @Option(help: "The port to listen on (env STATEFUN_PORT).")
    public var port: Int = environment("STATEFUN_PORT").flatMap(Int.init) ?? 8000

    @Option(help: "The URL path the runtime posts to (env STATEFUN_PATH).")
    public var path: String = environment("STATEFUN_PATH") ?? "/statefun"

    @Option(help: "Event loop threads; 0 means one per CPU the process may use (affinity, cgroup quota) (env STATEFUN_LOOPS).")
    public var loops: Int = environment("STATEFUN_LOOPS").flatMap(Int.init) ?? 0

    @Flag(inversion: .prefixedNo, help: "Listen on TCP at --host/--port (env STATEFUN_TCP=0 turns it off).")
    public var tcp: Bool = environmentFlag("STATEFUN_TCP") ?? true

    @Option(help: "Also listen on this Unix domain socket (env STATEFUN_UNIX_SOCKET).")
    public var unixSocket: String = environment("STATEFUN_UNIX_SOCKET") ?? ""

    @Option(help: "The socket file's mode, in octal (env STATEFUN_UNIX_SOCKET_MODE).")
    public var unixSocketMode: String = environment("STATEFUN_UNIX_SOCKET_MODE") ?? "660"

    @Flag(inversion: .prefixedNo, help: "Serve HTTP/2 (h2c) beside HTTP/1.1 (env STATEFUN_HTTP2=0 turns it off).")
    public var http2: Bool = environmentFlag("STATEFUN_HTTP2") ?? true

    @Option(help: "Run functions on a pool of this many threads, for functions that block; 0 means Swift's cooperative pool (env STATEFUN_WORKER_THREADS).")
    public var workerThreads: Int = environment("STATEFUN_WORKER_THREADS").flatMap(Int.init) ?? 0

    @Option(help: "Where functions run without --worker-threads: 'loop' (the event loop that read the request, the fastest) or 'pool' (Swift's cooperative pool) (env STATEFUN_HANDLERS).")
    public var handlers: String = environment("STATEFUN_HANDLERS") ?? "loop"

    @Flag(inversion: .prefixedNo, help: "Log one line per request (env STATEFUN_ACCESS_LOG=1).")
    public var accessLog: Bool = environmentFlag("STATEFUN_ACCESS_LOG") ?? false

    @Option(help: "Write requests answered 400 or 500 to this directory, replayable with curl (env STATEFUN_FAILED_REQUEST_DIR).")
    public var failedRequestDir: String = environment("STATEFUN_FAILED_REQUEST_DIR") ?? ""

    @Option(help: "GET path of the Prometheus metrics; empty turns them off (env STATEFUN_METRICS_PATH).")
    public var metricsPath: String = environment("STATEFUN_METRICS_PATH") ?? "/metrics"

    @Option(help: "GET path of the health check (200 ready, 503 shutting down); empty turns it off (env STATEFUN_HEALTH_PATH).")
    public var healthPath: String = environment("STATEFUN_HEALTH_PATH") ?? "/healthz"

    @Option(help: "Seconds to keep serving, not ready, after SIGTERM before refusing connections (env STATEFUN_SHUTDOWN_DELAY).")
    public var shutdownDelay: Double = environment("STATEFUN_SHUTDOWN_DELAY").flatMap(Double.init) ?? 0

    @Option(help: "Seconds in-flight requests get to finish once the server stops accepting (env STATEFUN_SHUTDOWN_GRACE).")
    public var shutdownGrace: Double = environment("STATEFUN_SHUTDOWN_GRACE").flatMap(Double.init) ?? 30

    @Option(help: "The largest request body accepted, in bytes; larger ones get 413 (env STATEFUN_MAX_BODY_SIZE).")
    public var maxBodySize: Int = environment("STATEFUN_MAX_BODY_SIZE").flatMap(Int.init) ?? 32 * 1024 * 1024

    @Option(help: "The largest request head (HTTP/2: header list) accepted, in bytes; larger ones get 431 (env STATEFUN_MAX_HEADER_SIZE).")
    public var maxHeaderSize: Int = environment("STATEFUN_MAX_HEADER_SIZE").flatMap(Int.init) ?? 16 * 1024

    @Option(help: "Seconds a connection may idle between requests, or a request body or HTTP/2 stream may stall (env STATEFUN_IDLE_TIMEOUT).")
    public var idleTimeout: Double = environment("STATEFUN_IDLE_TIMEOUT").flatMap(Double.init) ?? 60

    @Option(help: "Seconds a client may take to send a whole request head once it has begun (env STATEFUN_HEADER_TIMEOUT).")
    public var headerTimeout: Double = environment("STATEFUN_HEADER_TIMEOUT").flatMap(Double.init) ?? 30

    @Option(help: "Seconds a request's handler may run before its task is cancelled; 0: no limit (env STATEFUN_REQUEST_TIMEOUT).")
    public var requestTimeout: Double = environment("STATEFUN_REQUEST_TIMEOUT").flatMap(Double.init) ?? 0

    @Option(help: "The most memory request bodies may take in the whole server, in bytes; 0 means a quarter of the cgroup's memory.max or of physical memory (env STATEFUN_MAX_BODY_MEMORY).")
    public var maxBodyMemory: Int = environment("STATEFUN_MAX_BODY_MEMORY").flatMap(Int.init) ?? 0

    @Option(help: "HTTP/2 streams one connection may have open at once (env STATEFUN_HTTP2_MAX_STREAMS).")
    public var http2MaxStreams: Int = environment("STATEFUN_HTTP2_MAX_STREAMS").flatMap(Int.init) ?? 256

    @Option(help: "Run the server in this many worker processes under a small supervisor that replaces a worker that dies (a function that traps); 0 serves in this process alone (env STATEFUN_WORKERS).")
    public var workers: Int = environment("STATEFUN_WORKERS").flatMap(Int.init) ?? 1

    public init() {}

    public func validate() throws {
        // A variable that is set but malformed is an error, never its default in silence
        // (an empty one counts as unset, as a template's empty substitution leaves it).
        for (name, isValid) in environmentChecks {
            if let value = environment(name), !value.isEmpty, !isValid(value) {
                throw ValidationError("\(name)=\(value) is not a valid value for \(name)")
            }
        }
        guard UInt16(unixSocketMode, radix: 8) != nil else {
            throw ValidationError("--unix-socket-mode must be an octal mode such as 660")
        }
        guard tcp || !unixSocket.isEmpty else {
            throw ValidationError("--no-tcp needs --unix-socket")
        }
        guard handlers == "loop" || handlers == "pool" else {
            throw ValidationError("--handlers must be 'loop' or 'pool'")
        }
        guard maxBodyMemory >= 0 else { throw ValidationError("--max-body-memory must not be negative") }
        guard requestTimeout >= 0 else { throw ValidationError("--request-timeout must not be negative") }
        guard workerThreads >= 0, shutdownDelay >= 0, shutdownGrace >= 0, workers >= 0 else {
            throw ValidationError("--worker-threads, --shutdown-delay, --shutdown-grace and --workers must not be negative")
        }
        // Seconds become whole milliseconds in an Int64: a value past that (1e300, inf) would trap.
        let seconds = [("--shutdown-delay", shutdownDelay), ("--shutdown-grace", shutdownGrace), ("--idle-timeout", idleTimeout),
                       ("--header-timeout", headerTimeout), ("--request-timeout", requestTimeout)]
        for (name, value) in seconds where !(value.isFinite && value <= Self.maxSeconds) {
            throw ValidationError("\(name) must be a number of seconds of at most \(Int(Self.maxSeconds)) (\(value))")
        }
        guard maxBodySize > 0, maxHeaderSize > 0, idleTimeout > 0, headerTimeout > 0, http2MaxStreams > 0 else {
            throw ValidationError(
                "--max-body-size, --max-header-size, --idle-timeout, --header-timeout and --http2-max-streams must be positive")
        }
    }

    /// The server configuration these options describe.
    var configuration: HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration(host: host, port: port)
        if loops > 0 { configuration.eventLoopCount = loops }
        configuration.tcpEnabled = tcp
        configuration.unixSocketPath = unixSocket.isEmpty ? nil : unixSocket
        configuration.unixSocketPermissions = Int(unixSocketMode, radix: 8) ?? 0o660
        configuration.http2.enabled = http2
        configuration.handlerExecution =
            workerThreads > 0 ? .workerThreads(workerThreads) : handlers == "pool" ? .cooperativePool : .eventLoop
        configuration.accessLog = accessLog
        configuration.failedRequestDump =
            failedRequestDir.isEmpty ? nil : FailedRequestDumpConfiguration(directory: failedRequestDir)
        configuration.healthCheckPath = healthPath.isEmpty ? nil : healthPath
        configuration.shutdownDelay = .milliseconds(Int64(shutdownDelay * 1000))
        configuration.shutdownGracePeriod = .milliseconds(Int64(shutdownGrace * 1000))
        configuration.maxBodySize = maxBodySize
        configuration.maxHeaderSize = maxHeaderSize
        configuration.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        configuration.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        if requestTimeout > 0 { configuration.requestTimeout = .milliseconds(Int64(requestTimeout * 1000)) }
        configuration.http2.maxConcurrentStreams = http2MaxStreams
        if maxBodyMemory > 0 { configuration.maxBodyMemory = maxBodyMemory }
        return configuration
    }

    /// The longest duration a flag takes, in seconds: about 31 years.
    static let maxSeconds: Double = 1_000_000_000

    /// Serves `functions` with these options until SIGTERM or SIGINT, then
    /// drains and returns. The log level comes from `LOG_LEVEL` (default `info`).
    ///
    /// - Parameter protocol: the StateFun protocol: 3.x by default, `.v2` for a 2.x runtime.
    public func serve(_ functions: StatefulFunctions, protocol version: ProtocolVersion = .v3) async throws {
        let level = environment("LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // Supervised: this process holds the listeners and runs the server in workers (this program again).
        if workers > 0 && !Supervisor.isWorker {
            let status = Supervisor(
                configuration: configuration, workers: workers, describeRequest: StatefunService.describeRequest
            ).run()
            throw ExitCode(status)
        }
        // Process-wide, so metrics the functions record appear at the metrics path too.
        let registry = StatefunService.bootstrapMetrics()
        try await StatefunService(
            functions: functions, protocol: version, path: path, configuration: configuration,
            metrics: registry, metricsPath: metricsPath.isEmpty ? nil : metricsPath
        ).run()
    }
}

/// The variables whose values must parse, and the test each must pass.
private let environmentChecks: [(String, @Sendable (String) -> Bool)] = {
    let integer: @Sendable (String) -> Bool = { Int($0) != nil }
    let number: @Sendable (String) -> Bool = { Double($0).map { $0.isFinite } ?? false }
    let flag: @Sendable (String) -> Bool = { ["1", "true", "yes", "on", "0", "false", "no", "off"].contains($0.lowercased()) }
    return [
        ("STATEFUN_PORT", integer), ("STATEFUN_LOOPS", integer), ("STATEFUN_WORKER_THREADS", integer),
        ("STATEFUN_MAX_BODY_SIZE", integer), ("STATEFUN_MAX_HEADER_SIZE", integer),
        ("STATEFUN_MAX_BODY_MEMORY", integer), ("STATEFUN_HTTP2_MAX_STREAMS", integer), ("STATEFUN_WORKERS", integer),
        ("STATEFUN_SHUTDOWN_DELAY", number), ("STATEFUN_SHUTDOWN_GRACE", number),
        ("STATEFUN_IDLE_TIMEOUT", number), ("STATEFUN_HEADER_TIMEOUT", number), ("STATEFUN_REQUEST_TIMEOUT", number),
        ("STATEFUN_TCP", flag), ("STATEFUN_HTTP2", flag), ("STATEFUN_ACCESS_LOG", flag),
    ]
}()

private func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; nil when unset or unrecognised.
private func environmentFlag(_ name: String) -> Bool? {
    switch environment(name)?.lowercased() {
    case "1", "true", "yes", "on": true
    case "0", "false", "no", "off": false
    default: nil
    }
}
