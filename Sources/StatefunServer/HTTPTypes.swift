/// The header fields of a request, in the order received.
///
/// Names keep the case the client sent; lookups by name are ASCII case-insensitive.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields as received: name and value (value trimmed of surrounding whitespace).
    public var fields: [(name: String, value: String)]

    /// Creates headers from `(name, value)` pairs.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// Creates headers from a literal such as `["Content-Type": "text/plain"]`.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// The value of the first field named `name` (case-insensitive), or `nil`.
    public subscript(name: String) -> String? {
        fields.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }

    /// Every value of the fields named `name` (case-insensitive), in order.
    public func values(for name: String) -> [String] {
        fields.filter { asciiCaseInsensitiveEquals($0.name, name) }.map(\.value)
    }

    /// The number of fields.
    public var count: Int { fields.count }

    /// Appends a field.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }
}

/// A complete HTTP request as handed to a ``Route`` handler: head plus fully read body.
public struct ServerRequest: Sendable {
    /// The request method, e.g. `POST` (case-sensitive, as sent).
    public var method: String
    /// The request target without the query string, e.g. `/statefun`; not percent-decoded.
    public var path: String
    /// The part of the target after `?`, if there was one.
    public var query: String?
    /// The HTTP version: `HTTP/1.1` or `HTTP/1.0` as sent, or `HTTP/2`.
    public var version: String
    /// The request's header fields.
    public var headers: HTTPHeaders
    /// The request body (de-chunked if it was sent with `Transfer-Encoding: chunked`).
    public var body: [UInt8]
    /// The client's address as `ip:port` (`[ip]:port` for IPv6), or `unix:<socket path>`, for logging.
    public var peer: String

    /// Creates a request (the server builds these; tests and adapters may too).
    public init(
        method: String, path: String, query: String? = nil, version: String = "HTTP/1.1",
        headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], peer: String = ""
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.peer = peer
    }
}

/// A response returned by a ``Route`` handler.
///
/// The server adds `Content-Length`, `Date` and, when it closes the connection,
/// `Connection: close`; any `Content-Length`, `Transfer-Encoding` or `Connection`
/// fields set here are replaced (a `Connection: close` here makes the server close).
public struct ServerResponse: Sendable {
    /// The status code, 200...999.
    public var status: Int
    /// Header fields to send, e.g. `Content-Type`.
    public var headers: [(name: String, value: String)]
    /// The response body.
    public var body: [UInt8]
    /// Why the request failed, for the server's log line and the failed-request
    /// dump; never sent. When `nil`, a `text/plain` body of a 4xx/5xx response serves.
    public var cause: String?

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = [], cause: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.cause = cause
    }

    /// The cause to log for a failure: ``cause``, else a text body (first line, at most 1000 bytes).
    var failureCause: String {
        if let cause { return cause }
        let isText = headers.contains { field in
            asciiCaseInsensitiveEquals(field.name, "content-type") && field.value.lowercased().hasPrefix("text/")
        }
        guard isText else { return "" }
        let line = body.prefix(1000).prefix { $0 != UInt8(ascii: "\n") }
        return String(decoding: line, as: UTF8.self)
    }

    /// A `text/plain; charset=utf-8` response whose body is `message`.
    public static func text(_ status: Int, _ message: String) -> ServerResponse {
        ServerResponse(
            status: status,
            headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
            body: Array(message.utf8))
    }
}

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

/// ASCII case-insensitive comparison of two strings.
func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    var ia = a.utf8.makeIterator()
    var ib = b.utf8.makeIterator()
    while true {
        switch (ia.next(), ib.next()) {
        case (nil, nil): return true
        case let (x?, y?): if asciiLower(x) != asciiLower(y) { return false }
        default: return false
        }
    }
}

@inline(__always) func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
}
