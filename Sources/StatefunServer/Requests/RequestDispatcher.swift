/// Where both protocols hand their requests: routing (with the built-in health
/// check), the answers given without a handler (404, 405, 413), and running
/// handlers, synchronously on the loop or as a task on the configured executor,
/// with failed requests dumped (``FailedRequestDumper``).
///
/// One per loop: it holds no connection and no socket. A handler's task sends
/// its response back to the loop it names (``LoopMessage/response(connection:exchange:_:)``).
/// A class: both protocols reach it on every request, and a reference costs
/// nothing to pass where a copy of the struct would retain each of its fields.
final class RequestDispatcher {
    let context: ServerContext
    /// The built-in health check (``HTTPServerConfiguration/healthCheckPath``), answered on the loop.
    let healthRoute: Route?

    init(context: ServerContext) {
        self.context = context
        let readiness = context.readiness
        self.healthRoute = context.configuration.healthCheckPath.map { path in
            // The same answer whichever way the request reaches it (HTTP/2 streams with handlers on
            // the loop call a synchronous handler rather than the inline one).
            let answer: @Sendable (ServerRequest) -> ServerResponse = { _ in
                readiness.isReady ? .text(200, "ok\n") : .text(503, "not ready\n")
            }
            var route = Route(path: path, methods: ["GET", "HEAD"], synchronousHandler: answer)
            route.inlineHandler = answer
            return route
        }
    }

    /// What becomes of a request whose head has arrived.
    enum Admission {
        /// Its handler runs once its body has arrived.
        case accepted(Route)
        /// No route takes it (404, 405): answered without a handler; its framing is sound,
        /// so a protocol may read and drop its body and keep the connection.
        case unrouted(HTTPError, extraHeaders: [(name: String, value: String)])
        /// Its declared body is larger than the server takes (413).
        case tooLarge(HTTPError)
    }

    /// Routes a request and checks its declared body length against the limits.
    func admit(method: String, path: String, declaredLength: Int?) -> Admission {
        let route: Route
        switch self.route(path: path, method: method) {
        case .found(let found):
            route = found
        case .notFound:
            return .unrouted(HTTPError(404, "no route for \(path)"), extraHeaders: [])
        case .methodNotAllowed(let allow):
            return .unrouted(
                HTTPError(405, "method \(method) not allowed for \(path)"), extraHeaders: [(name: "Allow", value: allow)])
        }
        if let length = declaredLength {
            let maxBodySize = context.configuration.maxBodySize
            if length > maxBodySize {
                return .tooLarge(HTTPError(413, "request body of \(length) bytes exceeds the limit of \(maxBodySize) bytes"))
            }
            let memory = context.bodyMemory.limit
            if length > memory + BodyMemoryBudget.perConnectionAllowance {
                return .tooLarge(
                    HTTPError(413, "request body of \(length) bytes exceeds the server's body memory of \(memory) bytes"))
            }
        }
        return .accepted(route)
    }

    /// The route for a request: a registered route, else the built-in health check.
    func route(path: String, method: String) -> RouteTable.Match {
        let match = context.routes.match(path: path, method: method)
        guard case .notFound = match, let health = healthRoute, path == health.path else { return match }
        return health.methods.contains(method) ? .found(health) : .methodNotAllowed(allow: "GET, HEAD")
    }

    /// Whether `route`'s requests are answered by calling its synchronous
    /// handler on the loop (``answerSynchronously(_:_:)``) rather than in a task.
    func answersSynchronously(_ route: Route) -> Bool {
        route.synchronousHandler != nil && context.configuration.handlerExecution == .eventLoop
    }

    /// Starts `route`'s handler for `request`. A built-in route, and a
    /// synchronous handler of an HTTP/1.1 request (`exchange` 0; HTTP/2 gives its stream) when handlers run
    /// on the loop, answer at once (the response is returned); any other runs as
    /// a Task on the configured executor and sends its response to `loop`.
    /// `task` receives the handler's task, to cancel it.
    func start(
        _ route: Route, _ request: consuming ServerRequest, replyTo loop: EventLoop, connection: UInt64, exchange: Int32,
        task: inout Task<Void, Never>?
    ) -> ServerResponse? {
        if let inline = route.inlineHandler { return inline(request) }
        if exchange == 0, answersSynchronously(route) { return answerSynchronously(route, request) }
        task = startTask(route, request, replyTo: loop, connection: connection, exchange: exchange)
        return nil
    }

    /// Runs `route`'s handler for `request` as a Task and sends its response to `loop`.
    /// Not inlined into ``start(_:_:replyTo:connection:exchange:task:)``: the capture would copy every request.
    @inline(never)
    func startTask(
        _ route: Route, _ request: consuming ServerRequest, replyTo loop: EventLoop, connection: UInt64, exchange: Int32
    ) -> Task<Void, Never> {
        let context = self.context
        let unixSocketPath = request.peer.hasPrefix("unix:") ? context.configuration.unixSocketPath : nil
        let handler = route.handler
        context.metrics.handlersInFlight.increment()
        let operation: @Sendable () async -> Void = { [request = consume request] in
            let response = await handler(request)
            context.metrics.handlersInFlight.decrement()
            if let dumper = context.dumper, dumper.shouldDump(response.status) {
                dumper.dump(request, response, unixSocketPath: unixSocketPath)
            }
            loop.send(.response(connection: connection, exchange: exchange, response))
        }
        switch context.configuration.handlerExecution {
        case .eventLoop:
            return Task(executorPreference: loop.executor, operation: operation)
        case .workerThreads:
            return Task(executorPreference: context.workerPool, operation: operation)
        case .cooperativePool, .automatic:  // HTTPServer resolves .automatic; never seen here
            return Task(operation: operation)
        }
    }

    /// Runs `route`'s synchronous handler here and now; a failure is dumped as a task's would be.
    func answerSynchronously(_ route: Route, _ request: ServerRequest) -> ServerResponse {
        guard let synchronous = route.synchronousHandler else { preconditionFailure("the route has no synchronous handler") }
        let response = synchronous(request)
        if let dumper = context.dumper, dumper.shouldDump(response.status) {
            dumper.dump(
                request, response,
                unixSocketPath: request.peer.hasPrefix("unix:") ? context.configuration.unixSocketPath : nil)
        }
        return response
    }
}
