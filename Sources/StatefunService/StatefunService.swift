import CoreMetrics
public import Logging
public import Prometheus
public import ServiceLifecycle
@_exported public import StatefulFunctions
@_exported public import StatefunServer

/// The headers of every successful StateFun reply, built once.
private let protobufHeaders: [(name: String, value: String)] = [
    (name: "Content-Type", value: RequestReplyResponse.protobufContentType)
]

private func serverResponse(_ response: RequestReplyResponse) -> ServerResponse {
    ServerResponse(
        status: response.status,
        headers: response.contentType == RequestReplyResponse.protobufContentType
            ? protobufHeaders : [(name: "Content-Type", value: response.contentType)],
        body: response.body,
        cause: response.status == 200 ? nil : String(decoding: response.body, as: UTF8.self))
}

extension Route {
    /// A route that serves a ``RequestReplyHandler`` at `path` for `POST` requests.
    /// A failure's text (the handler's error line) becomes the response's
    /// `cause`, which the server logs with the peer and dumps with the request.
    public static func statefun(_ path: String = "/statefun", handler: RequestReplyHandler) -> Route {
        var route = Route(path: path, methods: ["POST"]) { request in
            serverResponse(await handler.handle(request.body))
        }
        // Functions that never suspend are answered without a task (on the event loop).
        if handler.isSynchronous {
            route.synchronousHandler = { request in
                // Never nil: isSynchronous is fixed when the handler is made.
                guard let response = handler.handleSynchronously(request.body) else {
                    return .text(500, "the handler's functions are not synchronous")
                }
                return serverResponse(response)
            }
        }
        return route
    }

    /// A `GET` route answering with `registry`'s metrics in the Prometheus text format.
    public static func metrics(_ path: String = "/metrics", registry: PrometheusCollectorRegistry) -> Route {
        Route(path: path, methods: ["GET"]) { _ in
            var body: [UInt8] = []
            body.reserveCapacity(16 * 1024)
            registry.emit(into: &body)
            return ServerResponse(
                status: 200, headers: [(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")],
                body: body)
        }
    }
}

/// A remote module: a ``StatefulFunctions`` registry served over HTTP by our
/// epoll server, at one path, with its metrics at another.
///
/// ```swift
/// let functions = StatefulFunctions()
/// try Greeter.register(in: functions)
/// try await StatefunService(functions: functions).run()
/// ```
///
/// It is a swift-service-lifecycle `Service`. ``run()`` traps SIGTERM and
/// SIGINT itself (through a `ServiceGroup` of its own) and also follows the
/// graceful shutdown of a `ServiceGroup` it runs in: either way the server
/// reports not ready, waits ``HTTPServerConfiguration/shutdownDelay``, stops
/// accepting, finishes the requests and HTTP/2 streams in flight, and returns.
public struct StatefunService: Service {
    /// The server, configured and not started yet.
    public let server: HTTPServer
    /// Where the handler's and the server's metrics are registered (served at the metrics path).
    public let metrics: PrometheusCollectorRegistry
    private let logger: Logger

    /// Creates the service.
    ///
    /// - Parameters:
    ///   - functions: the bound functions; bind them all before this.
    ///   - protocol: the StateFun protocol to speak: 3.x (`TypedValue`) by default, `.v2`
    ///     (`Any`) for a 2.x runtime. Value specs bound for a 2.x service log a warning here.
    ///   - path: the URL path the runtime posts to, `/statefun` by default.
    ///   - configuration: addresses, protocols, limits, scheduling, logging and shutdown of the server.
    ///     Functions run on the event loops (``HandlerExecution/eventLoop``, the fastest for functions
    ///     that never block) unless its `handlerExecution` says otherwise (`.workerThreads(n)` for
    ///     functions that do): `.automatic`, the configuration's default, means the event loops here.
    ///   - logger: where the server logs (start-up line, one line per failed request, access log).
    ///   - metrics: the registry the instruments go to; a new one by default. Pass the one given to
    ///     ``bootstrapMetrics(registry:)`` to serve the whole process's metrics.
    ///   - metricsPath: where `GET` answers with the metrics in Prometheus text format (`nil`: not served).
    public init(
        functions: StatefulFunctions, protocol version: ProtocolVersion = .v3, path: String = "/statefun",
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
        logger: Logger = Logger(label: "statefun"),
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        metricsPath: String? = "/metrics"
    ) {
        let factory = Self.metricsFactory(metrics)
        // The server writes the line for a failed request (it knows the peer and
        // the path); the handler's own line is for servers that do not.
        var handlerLogger = logger
        handlerLogger.logLevel = .critical
        let handler = RequestReplyHandler(functions, protocol: version, logger: handlerLogger, metricsFactory: factory)
        var routes = [Route.statefun(path, handler: handler)]
        if let metricsPath { routes.append(.metrics(metricsPath, registry: metrics)) }
        let functionTypes = functions.functionTypes.map(\.description).sorted()
        var startup: Logger.Metadata = [
            "statefunPath": "\(path)",
            "statefunProtocol": "\(version.rawValue)",
            "functions": "\(functionTypes.joined(separator: ", "))",
        ]
        if let metricsPath { startup["metrics"] = "\(metricsPath)" }
        var configuration = configuration
        if configuration.handlerExecution == .automatic { configuration.handlerExecution = .eventLoop }
        self.server = HTTPServer(
            configuration: configuration, routes: routes, logger: logger, metricsFactory: factory,
            startupMetadata: startup)
        self.metrics = metrics
        self.logger = logger
        // The handler's own logger is muted above; its start-up warning goes here.
        if let warning = functions.unusedValueSpecsWarning(protocol: version) { logger.warning("\(warning)") }
    }

    /// Serves until SIGTERM or SIGINT (or the graceful shutdown of an enclosing
    /// `ServiceGroup`), then drains and returns. Cancelling the calling task
    /// closes everything at once.
    public func run() async throws {
        let configuration = server.configuration
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: server.service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // The server force-closes at its own deadline; the group's is a backstop.
        groupConfiguration.maximumGracefulShutdownDuration =
            configuration.shutdownDelay + configuration.shutdownGracePeriod + .seconds(10)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }

    /// Bootstraps the process-wide `MetricsSystem` with a Prometheus factory
    /// writing to `registry`, so instruments created anywhere in the process
    /// (your functions' too) appear at the metrics path of a service given the
    /// same registry. Call it once per process, before creating services.
    @discardableResult
    public static func bootstrapMetrics(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) -> PrometheusCollectorRegistry {
        MetricsSystem.bootstrap(metricsFactory(registry))
        return registry
    }

    /// A Prometheus factory for `registry`, with histogram buckets fit for batch sizes.
    static func metricsFactory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["statefun_batch_size"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        return factory
    }
}
