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
