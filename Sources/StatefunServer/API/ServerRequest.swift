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
