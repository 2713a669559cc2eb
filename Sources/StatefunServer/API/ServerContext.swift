import Logging

/// Server-wide, immutable settings and shared services of every event loop.
final class ServerContext: Sendable {
    let configuration: HTTPServerConfiguration
    let routes: RouteTable
    let logger: Logger
    let lifecycle: Lifecycle
    let readiness: Readiness
    let metrics: ServerMetrics
    let workerPool: WorkerPool?
    let dumper: FailedRequestDumper?
    let idleTimeout: UInt64
    /// ``HTTPServerConfiguration/requestTimeout`` in nanoseconds.
    let requestTimeout: UInt64?
    let headerTimeout: UInt64
    /// The bound on request-body memory of the whole server (``HTTPServerConfiguration/maxBodyMemory``).
    let bodyMemory: BodyMemoryBudget
    let bodyMemoryWait: UInt64
    /// How often each loop checks timeouts.
    let tickMilliseconds: Int32
    /// How long a closing connection may linger, draining unread input.
    let lingerTimeout: UInt64 = 5_000_000_000

    init(
        configuration: HTTPServerConfiguration, routes: RouteTable, logger: Logger, lifecycle: Lifecycle,
        readiness: Readiness, metrics: ServerMetrics, workerPool: WorkerPool?, dumper: FailedRequestDumper?
    ) {
        self.configuration = configuration
        self.routes = routes
        self.logger = logger
        self.lifecycle = lifecycle
        self.readiness = readiness
        self.metrics = metrics
        self.workerPool = workerPool
        self.dumper = dumper
        self.idleTimeout = max(configuration.idleTimeout.clampedNanoseconds, 1_000_000)
        self.requestTimeout = configuration.requestTimeout.map { max($0.clampedNanoseconds, 1_000_000) }
        self.headerTimeout = max(configuration.headerTimeout.clampedNanoseconds, 1_000_000)
        self.bodyMemory = BodyMemoryBudget(limit: configuration.maxBodyMemory)
        self.bodyMemoryWait = max(configuration.bodyMemoryWait.clampedNanoseconds, 1_000_000)
        let shortest = min(idleTimeout, headerTimeout, bodyMemoryWait, requestTimeout ?? .max) / 4 / 1_000_000
        self.tickMilliseconds = Int32(min(1000, max(10, shortest)))
    }
}
