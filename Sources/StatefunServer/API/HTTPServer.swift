public import CoreMetrics
public import Logging
public import ServiceLifecycle
import StatefunLocks
import Synchronization

/// A small HTTP server built directly on epoll: one thread per event loop,
/// each with its own `SO_REUSEPORT` listening socket, route handlers run as
/// Swift tasks. It speaks HTTP/1.1 and HTTP/2 (h2c, through libnghttp2) on the
/// same port, and can listen on a Unix domain socket. It knows nothing about
/// Stateful Functions.
///
/// ```swift
/// let server = HTTPServer(configuration: .init(port: 8000), routes: [
///     Route(path: "/statefun") { request in ServerResponse(status: 200, body: request.body) }
/// ])
/// try await server.run()   // until SIGINT/SIGTERM
/// ```
///
/// In a swift-service-lifecycle `ServiceGroup`, run ``service`` instead: the
/// group's signals and graceful shutdown then drive the server.
public final class HTTPServer: Sendable {
    private enum State {
        case idle
        case running([EventLoop], port: Int)
        case stopping([EventLoop], port: Int)
        case stopped(port: Int)
    }

    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    private let routes: RouteTable
    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let startupMetadata: Logger.Metadata
    private let lifecycle = Lifecycle()
    private let readiness = Readiness()
    private let state = Lock(State.idle)
    private let unixListener = Lock<UnixListener?>(nil)
    private let addresses = Lock<[String]>([])
    /// The wait of ``beginGracefulShutdown()``, cancelled by ``shutdown()``.
    private let delayedShutdown = Lock<Task<Void, Never>?>(nil)

    /// Creates a server; nothing is bound until ``start()`` or ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: addresses, protocols, limits, timeouts, scheduling, logging.
    ///   - routes: the paths served and their handlers.
    ///   - logger: where the server logs (start-up, failures, the access log).
    ///   - metricsFactory: where the server's instruments are created (`http_requests_total`,
    ///     `http_request_duration_seconds`, `http_connections_total`, `http_connections_open`,
    ///     `http_handler_tasks_in_flight`); the process-wide `MetricsSystem` by default.
    ///   - startupMetadata: more fields for the start-up log line (the service adds its functions).
    public init(
        configuration: HTTPServerConfiguration, routes: [Route],
        logger: Logger = Logger(label: "statefun.server"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        startupMetadata: Logger.Metadata = [:]
    ) {
        var configuration = configuration
        if configuration.handlerExecution == .automatic { configuration.handlerExecution = .cooperativePool }
        self.configuration = configuration
        self.routes = RouteTable(routes)
        self.logger = logger
        self.metricsFactory = metricsFactory
        self.startupMetadata = startupMetadata
    }

    /// The TCP port the server is bound to (the kernel's choice when configured
    /// with port 0), or 0 before ``start()`` and when TCP is disabled.
    public var localPort: Int {
        state.withLock { state in
            switch state {
            case .idle: 0
            case .running(_, let port), .stopping(_, let port), .stopped(let port): port
            }
        }
    }

    /// Where the server listens, e.g. `["127.0.0.1:8000", "unix:/run/statefun.sock"]`; empty before ``start()``.
    public var listeningAddresses: [String] { addresses.withLock { $0 } }

    /// True from ``start()`` until the server reports not ready (``markNotReady()``,
    /// a graceful shutdown): what the health check path answers (200 or 503).
    public var isReady: Bool { readiness.isReady }

    /// Reports not ready from now on (the health check answers 503) while
    /// serving on as before. ``beginGracefulShutdown()`` starts with this.
    public func markNotReady() {
        guard readiness.isReady else { return }
        readiness.set(false)
        logger.notice("HTTP server reports not ready")
    }

    /// Binds the listening sockets and starts the event-loop threads; returns
    /// once the server accepts connections.
    ///
    /// - Throws: ``HTTPServerError`` if the address is in use or cannot be
    ///   resolved, if a system call fails, or if the server was started before.
    public func start() throws {
        let configuration = self.configuration
        try state.withLock { state throws(HTTPServerError) in
            guard case .idle = state else {
                throw HTTPServerError(.alreadyStarted, "the server was already started (or shut down)")
            }
            guard configuration.tcpEnabled || configuration.unixSocketPath != nil else {
                throw HTTPServerError(.invalidConfiguration, "nothing to listen on: TCP is disabled and no Unix socket path is set")
            }
            SystemInfo.ignoreBrokenPipes()
            raiseFileDescriptorLimit()
            if configuration.tuneAllocator { tuneAllocator() }

            var workerPool: WorkerPool?
            if case .workerThreads(let count) = configuration.handlerExecution {
                workerPool = try WorkerPool(threads: count, name: "http-worker")
            }
            var dumper: FailedRequestDumper?
            if let dump = configuration.failedRequestDump { dumper = try FailedRequestDumper(dump, logger: logger) }
            // A worker of a supervisor adopts the supervisor's listening sockets.
            let worker = SupervisedWorker.claim()

            var tcpAddress: SocketAddress?
            var adoptedTCP: (fd: Int32, address: SocketAddress)?
            if let worker {
                if let fd = worker.tcpFD, let address = boundAddress(fd) { adoptedTCP = (fd, address) }
            } else if configuration.tcpEnabled {
                var address = try SocketAddress.resolve(host: configuration.host, port: configuration.port)
                // Probe without SO_REUSEPORT: it fails if *any* socket holds the port
                // (a SO_REUSEPORT bind would silently share it with another server of
                // the same user), and it makes the kernel pick the port for port 0.
                let probe = try makeBoundSocket(address, reusePort: false, listenBacklog: nil)
                address.port = boundAddress(probe)?.port ?? configuration.port
                Posix.close(probe)
                tcpAddress = address
            }
            var unix: UnixListener?
            var adoptedUnix: (fd: Int32, path: String)?
            if let worker {
                if let fd = worker.unixFD { adoptedUnix = (fd, worker.unixPath ?? configuration.unixSocketPath ?? "") }
            } else if let path = configuration.unixSocketPath {
                unix = try makeUnixListener(
                    path: path, permissions: configuration.unixSocketPermissions, backlog: configuration.backlog)
            }
            let sharedUnix = adoptedUnix ?? unix.map { ($0.fd, $0.path) }
            var routes = self.routes
            if configuration.failedRequestDump != nil || worker != nil {
                let address = adoptedTCP?.address ?? tcpAddress
                let labels = CrashLabels(
                    routes: routes.all, dumpDirectory: configuration.failedRequestDump?.directory,
                    replayURL: address.map { "http://" + replayHost($0) }, unixSocketPath: sharedUnix?.path)
                // Not the tasks of the cooperative pool, whose threads do not clear the mark between jobs.
                routes = routes.withCrashLabels(labels, handlerTasks: configuration.handlerExecution != .cooperativePool)
                CrashReporting.install(reportFD: worker?.reportFD ?? -1)
            }
            let context = ServerContext(
                configuration: configuration, routes: routes, logger: logger, lifecycle: lifecycle,
                readiness: readiness, metrics: ServerMetrics(factory: metricsFactory), workerPool: workerPool,
                dumper: dumper)

            // 0: one loop per CPU the process may use.
            let processors = configuration.eventLoopCount > 0 ? nil : ProcessorCount.available()
            let loopCount = processors?.count ?? configuration.eventLoopCount
            var loops: [EventLoop] = []
            do throws(HTTPServerError) {
                for index in 0..<loopCount {
                    var listeners: [Listener] = []
                    do throws(HTTPServerError) {
                        if let tcpAddress {
                            let fd = try makeBoundSocket(tcpAddress, reusePort: true, listenBacklog: configuration.backlog)
                            listeners.append(Listener(fd: fd, unixSocketPath: nil))
                        } else if let adoptedTCP {
                            let fd = try duplicate(adoptedTCP.fd)
                            listeners.append(Listener(fd: fd, unixSocketPath: nil, shared: true))
                        }
                        if let sharedUnix {
                            // Each loop watches its own descriptor of the one socket (SO_REUSEPORT is TCP only).
                            let fd = try duplicate(sharedUnix.0)
                            listeners.append(Listener(fd: fd, unixSocketPath: sharedUnix.1))
                        }
                    } catch {
                        for listener in listeners { listener.closeUnregistered() }
                        throw error
                    }
                    loops.append(
                        try EventLoop(
                            index: index, context: context, listeners: listeners, drivers: HTTPConnections(context: context)))
                }
            } catch {
                for loop in loops { loop.closeUnstarted() }
                if let unix {
                    Posix.close(unix.fd)
                    unix.unlinkFile()
                }
                throw error
            }
            if let unix { Posix.close(unix.fd) }  // the loops hold their own descriptors
            if let worker {  // the supervisor keeps its own
                for fd in [worker.tcpFD, worker.unixFD].compactMap({ $0 }) { Posix.close(fd) }
            }
            let port = tcpAddress?.port ?? adoptedTCP?.address.port ?? 0

            context.bodyMemory.setLoops(loops.map(\.mailbox))
            lifecycle.loopsStarting(loops.count)
            for (index, loop) in loops.enumerated() {
                do throws(HTTPServerError) {
                    try spawnThread(name: "http-loop-\(index)") { loop.run() }
                } catch {
                    // Stop the loops already running; release the rest.
                    let deadline = monotonicNanos()
                    for started in loops[..<index] { started.send(.shutdown(deadline: deadline)) }
                    for unstarted in loops[index...] {
                        unstarted.closeUnstarted()
                        lifecycle.loopExited()
                    }
                    unix?.unlinkFile()
                    state = .stopped(port: port)
                    throw error
                }
            }
            state = .running(loops, port: port)
            unixListener.withLock { $0 = unix }
            var listening: [String] = []
            if let address = tcpAddress ?? adoptedTCP?.address { listening.append(address.description) }
            if let sharedUnix { listening.append("unix:" + sharedUnix.1) }
            addresses.withLock { $0 = listening }
            readiness.set(true)

            var metadata = startupMetadata
            metadata["addresses"] = "\(listening.joined(separator: ", "))"
            metadata["protocols"] = "\(configuration.http2.enabled ? "HTTP/1.1, HTTP/2 (h2c: prior knowledge, Upgrade)" : "HTTP/1.1")"
            metadata["eventLoops"] = "\(loops.count)"
            metadata["eventLoopCount"] = "\(processors.map { "CPUs the process may use (\($0.source))" } ?? "configured")"
            metadata["handlers"] = "\(describe(configuration.handlerExecution))"
            if let path = configuration.healthCheckPath { metadata["health"] = "\(path)" }
            if let timeout = configuration.requestTimeout { metadata["requestTimeout"] = "\(timeout)" }
            if let dump = configuration.failedRequestDump { metadata["failedRequestDump"] = "\(dump.directory)" }
            if let worker { metadata["worker"] = "\(worker.index)" }
            logger.info("HTTP server listening", metadata: metadata)
            worker?.reportReady()
        }
    }

    private func duplicate(_ fd: Int32) throws(HTTPServerError) -> Int32 {
        do throws(SystemError) { return try Posix.duplicate(fd) } catch { throw HTTPServerError(error) }
    }

    /// `127.0.0.1:8000` for a replay command: a wildcard address becomes loopback.
    private func replayHost(_ address: SocketAddress) -> String {
        let text = address.description
        if text.hasPrefix("0.0.0.0:") { return "127.0.0.1:\(address.port)" }
        if text.hasPrefix("[::]:") { return "[::1]:\(address.port)" }
        return text
    }

    private func describe(_ execution: HandlerExecution) -> String {
        switch execution {
        case .eventLoop: "event loops"
        case .cooperativePool, .automatic: "cooperative pool"
        case .workerThreads(let count): "\(count) worker threads"
        }
    }

    /// Starts a graceful shutdown with the configured ``HTTPServerConfiguration/shutdownGracePeriod``:
    /// listeners close at once, idle connections are closed, HTTP/2 connections
    /// get GOAWAY, in-flight requests and streams finish and get their
    /// responses, then the loops stop. Returns immediately; use
    /// ``waitUntilStopped()`` to wait.
    public func shutdown() {
        shutdown(gracePeriod: configuration.shutdownGracePeriod)
    }

    /// Starts a graceful shutdown that force-closes whatever is unfinished after
    /// `gracePeriod`. Calling it again can shorten, never extend, the deadline.
    public func shutdown(gracePeriod: Duration) {
        readiness.set(false)
        delayedShutdown.withLock { task in
            task?.cancel()
            task = nil
        }
        let loops = state.withLock { state -> [EventLoop] in
            switch state {
            case .idle:
                state = .stopped(port: 0)
                return []
            case .running(let loops, let port):
                state = .stopping(loops, port: port)
                return loops
            case .stopping(let loops, _):
                return loops
            case .stopped:
                return []
            }
        }
        guard !loops.isEmpty else { return }
        logger.info("HTTP server shutting down", metadata: ["gracePeriod": "\(gracePeriod)"])
        let deadline = monotonicNanos() &+ gracePeriod.clampedNanoseconds
        for loop in loops { loop.send(.shutdown(deadline: deadline)) }
        // New clients of the Unix socket find no file rather than a closing socket.
        unixListener.withLock { listener in
            listener?.unlinkFile()
            listener = nil
        }
    }

    /// What SIGTERM starts, as Kubernetes expects: report not ready at once
    /// (the health check answers 503), keep serving for
    /// ``HTTPServerConfiguration/shutdownDelay`` so load balancers stop sending
    /// new work, then ``shutdown()``. Returns immediately.
    public func beginGracefulShutdown() {
        markNotReady()
        let delay = configuration.shutdownDelay
        if delay <= .zero {
            shutdown()
            return
        }
        logger.notice("HTTP server stops accepting after the shutdown delay", metadata: ["delay": "\(delay)"])
        delayedShutdown.withLock { task in
            guard task == nil else { return }
            task = Task { [self] in
                guard (try? await Task.sleep(for: delay)) != nil else { return }  // cancelled: shutdown() ran
                shutdown()
            }
        }
    }

    /// Returns once every event loop has exited (immediately if the server
    /// never started). Cancelling the waiting task does not end the wait.
    public func waitUntilStopped() async {
        await lifecycle.wait()
    }

    /// Starts the server, shuts it down on SIGINT or SIGTERM (with
    /// ``beginGracefulShutdown()``; a second signal shortens the grace period to
    /// zero) or when the calling task is cancelled (with ``shutdown()``), and
    /// returns once it has stopped, so the process can then exit normally.
    ///
    /// It installs its own signal handlers: in a `ServiceGroup`, use ``service``.
    public func run() async throws {
        let logger = self.logger
        let signalCount = Atomic<Int>(0)
        let subscription = try terminationSignals.subscribe { [self] in
            let count = signalCount.add(1, ordering: .relaxed).newValue
            if count == 1 {
                logger.notice("termination signal received; shutting down gracefully")
                self.beginGracefulShutdown()
            } else {
                logger.notice("second termination signal received; closing all connections now")
                self.shutdown(gracePeriod: .zero)
            }
        }
        do {
            try start()
        } catch {
            terminationSignals.unsubscribe(subscription)
            throw error
        }
        await withTaskCancellationHandler {
            await waitUntilStopped()
        } onCancel: {
            self.shutdown()
        }
        terminationSignals.unsubscribe(subscription)
        logger.info("HTTP server stopped")
    }

    /// The server as a swift-service-lifecycle `Service`, for a `ServiceGroup`
    /// that owns the signals (`gracefulShutdownSignals: [.sigterm]`).
    public var service: HTTPServerService { HTTPServerService(server: self) }

    /// Serves under a `ServiceGroup` (see ``HTTPServerService``).
    fileprivate func runAsService() async throws {
        try start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await waitUntilStopped()
            } onCancel: {
                self.shutdown(gracePeriod: .zero)
            }
        } onGracefulShutdown: {
            self.logger.notice("graceful shutdown requested (termination signal received); shutting down gracefully")
            self.beginGracefulShutdown()
        }
        logger.info("HTTP server stopped")
    }
}

/// An ``HTTPServer`` as a swift-service-lifecycle `Service`.
///
/// `run()` starts the server and serves until the group shuts down: a graceful
/// shutdown (the group's `gracefulShutdownSignals`, typically SIGTERM, or
/// another service ending) runs ``HTTPServer/beginGracefulShutdown()`` — not
/// ready, ``HTTPServerConfiguration/shutdownDelay``, stop accepting, finish
/// in-flight requests and streams within ``HTTPServerConfiguration/shutdownGracePeriod``;
/// cancellation closes everything at once. It returns once the server has stopped.
///
/// ```swift
/// let group = ServiceGroup(configuration: .init(
///     services: [server.service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
public struct HTTPServerService: Service {
    /// The server this service runs.
    public let server: HTTPServer

    /// Runs the server until the group shuts down.
    public func run() async throws {
        try await server.runAsService()
    }
}
