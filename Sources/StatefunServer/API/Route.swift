/// Binds a request path (exact match) and a set of methods to an async handler.
public struct Route: Sendable {
    /// The exact path served, e.g. `/statefun`.
    public var path: String
    /// The methods served (case-sensitive); others get 405 with an `Allow` header.
    public var methods: Set<String>
    /// Produces the response for a request.
    public var handler: @Sendable (ServerRequest) async -> ServerResponse
    /// The same handler without suspension points, when it has none: with
    /// ``HandlerExecution/eventLoop`` a request is then answered by calling it
    /// on the loop that read the request, without a task. (The streams an
    /// HTTP/2 read completes are answered after it, a few at a time, each few
    /// written before the next run.)
    public var synchronousHandler: (@Sendable (ServerRequest) -> ServerResponse)?
    /// Set for the server's own routes (the health check): answered on the event loop, without a task.
    var inlineHandler: (@Sendable (ServerRequest) -> ServerResponse)?

    /// Creates a route. Several routes may share a path with different methods.
    public init(
        path: String, methods: Set<String> = ["POST"],
        handler: @escaping @Sendable (ServerRequest) async -> ServerResponse
    ) {
        self.path = path
        self.methods = methods
        self.handler = handler
    }

    /// Creates a route whose handler never suspends (``synchronousHandler``).
    public init(
        path: String, methods: Set<String> = ["POST"],
        synchronousHandler: @escaping @Sendable (ServerRequest) -> ServerResponse
    ) {
        self.init(path: path, methods: methods, handler: { request in synchronousHandler(request) })
        self.synchronousHandler = synchronousHandler
    }
}

/// Routes indexed by path.
struct RouteTable: Sendable {
    private var byPath: [String: [Route]] = [:]

    init(_ routes: [Route]) {
        for route in routes { byPath[route.path, default: []].append(route) }
    }

    /// Every route.
    var all: [Route] { byPath.values.flatMap { $0 } }

    /// The same routes, with handlers that mark their requests in flight for
    /// crash reports (``Route/markingRequestsInFlight(_:handlerTasks:)``).
    func withCrashLabels(_ labels: CrashLabels, handlerTasks: Bool) -> RouteTable {
        var table = self
        for (path, routes) in byPath {
            table.byPath[path] = routes.map { $0.markingRequestsInFlight(labels, handlerTasks: handlerTasks) }
        }
        return table
    }

    enum Match {
        case found(Route)
        case notFound
        case methodNotAllowed(allow: String)
    }

    func match(path: String, method: String) -> Match {
        guard let candidates = byPath[path] else { return .notFound }
        if let route = candidates.first(where: { $0.methods.contains(method) }) { return .found(route) }
        let allowed = candidates.reduce(into: Set<String>()) { $0.formUnion($1.methods) }
        return .methodNotAllowed(allow: allowed.sorted().joined(separator: ", "))
    }
}
