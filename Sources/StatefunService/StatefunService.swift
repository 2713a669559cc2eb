public import Logging
public import StatefulFunctions
public import StatefunServer

extension Route {
    /// A route that serves a ``RequestReplyHandler`` at `path` for `POST` requests.
    public static func statefun(_ path: String = "/statefun", handler: RequestReplyHandler) -> Route {
        Route(path: path, methods: ["POST"]) { request in
            let response = await handler.handle(request.body)
            return ServerResponse(
                status: response.status, headers: [(name: "Content-Type", value: response.contentType)],
                body: response.body)
        }
    }
}

/// A remote module: a ``StatefulFunctions`` registry served over HTTP by our
/// epoll server, at one path.
///
/// ```swift
/// let functions = StatefulFunctions()
/// try Greeter.register(in: functions)
/// try await StatefunService(functions: functions).run()
/// ```
public struct StatefunService: Sendable {
    /// The server, configured and not started yet.
    public let server: HTTPServer

    /// Creates the service.
    ///
    /// - Parameters:
    ///   - functions: the bound functions; bind them all before this.
    ///   - protocol: the StateFun protocol to speak, 2.x (`Any`) or 3.x (`TypedValue`).
    ///   - path: the URL path the runtime posts to, `/statefun` by default.
    ///   - configuration: host, port, event loops and limits of the server.
    ///   - logger: where the handler and the server log.
    public init(
        functions: StatefulFunctions, protocol version: ProtocolVersion = .v2, path: String = "/statefun",
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
        logger: Logger = Logger(label: "statefun")
    ) {
        let handler = RequestReplyHandler(functions, protocol: version, logger: logger)
        server = HTTPServer(configuration: configuration, routes: [.statefun(path, handler: handler)], logger: logger)
        logger.info(
            "serving functions",
            metadata: [
                "path": "\(path)",
                "protocol": "\(version.rawValue)",
                "functions": "\(functions.functionTypes.map(\.description).joined(separator: ", "))",
            ])
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests and returns.
    public func run() async throws {
        try await server.run()
    }
}
