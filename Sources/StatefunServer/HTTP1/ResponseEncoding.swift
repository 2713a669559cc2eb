
/// The reason phrase sent in the status line for `status`.
func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: "Continue"
    case 101: "Switching Protocols"
    case 200: "OK"
    case 201: "Created"
    case 202: "Accepted"
    case 203: "Non-Authoritative Information"
    case 204: "No Content"
    case 205: "Reset Content"
    case 206: "Partial Content"
    case 300: "Multiple Choices"
    case 301: "Moved Permanently"
    case 302: "Found"
    case 303: "See Other"
    case 304: "Not Modified"
    case 307: "Temporary Redirect"
    case 308: "Permanent Redirect"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 406: "Not Acceptable"
    case 408: "Request Timeout"
    case 409: "Conflict"
    case 410: "Gone"
    case 411: "Length Required"
    case 412: "Precondition Failed"
    case 413: "Content Too Large"
    case 414: "URI Too Long"
    case 415: "Unsupported Media Type"
    case 417: "Expectation Failed"
    case 421: "Misdirected Request"
    case 422: "Unprocessable Content"
    case 425: "Too Early"
    case 426: "Upgrade Required"
    case 428: "Precondition Required"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 501: "Not Implemented"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 505: "HTTP Version Not Supported"
    default:
        switch status / 100 {
        case 1: "Informational"
        case 2: "Success"
        case 3: "Redirection"
        case 4: "Client Error"
        default: "Server Error"
        }
    }
}

/// How the connection treats the response being encoded.
struct ResponseFraming {
    /// Send `Connection: close` and close after writing.
    var close: Bool
    /// The request was HTTP/1.0 (keep-alive then needs an explicit `Connection: keep-alive`).
    var http10: Bool
    /// The request was HEAD: send the head only.
    var headRequest: Bool
}

/// A response's header fields, checked and encoded as header lines, and
/// whether one of them asks to close the connection.
struct EncodedFields {
    var lines: [UInt8] = []
    var asksClose = false
}

/// Encodes the header fields a handler gave. The fields the server frames
/// itself (Content-Length, Transfer-Encoding, Connection, Date) are left out;
/// invalid fields (bad names, CR/LF in values: response splitting) are dropped
/// and reported via `problems`.
func encodeHeaderFields(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> EncodedFields {
    var encoded = EncodedFields()
    encoded.lines.reserveCapacity(fields.count * 48)
    for field in fields {
        if asciiCaseInsensitiveEquals(field.name, "connection") {
            if field.value.split(separator: ",").contains(where: { asciiCaseInsensitiveEquals($0.trimmingOWS(), "close") }) {
                encoded.asksClose = true
            }
            continue
        }
        if asciiCaseInsensitiveEquals(field.name, "content-length")
            || asciiCaseInsensitiveEquals(field.name, "transfer-encoding")
            || asciiCaseInsensitiveEquals(field.name, "date")
        {
            continue
        }
        guard !field.name.isEmpty, field.name.utf8.allSatisfy(isTChar),
            field.value.utf8.allSatisfy(isFieldValueByte)
        else {
            problems.append(.invalidHeader(field.name))
            continue
        }
        encoded.lines.append(contentsOf: field.name.utf8)
        encoded.lines.append(contentsOf: ": ".utf8)
        encoded.lines.append(contentsOf: field.value.utf8)
        encoded.lines.append(contentsOf: "\r\n".utf8)
    }
    return encoded
}

/// A response's header fields as HTTP/2 sends them (RFC 9113 §8.2): names
/// lowercased, names and values end to end in `bytes`, each field's name and
/// value as ranges of it. Hop-by-hop fields and those the server sets itself
/// (`content-length`, `date`) are left out.
struct HTTP2Fields {
    var bytes: [UInt8] = []
    var spans: [(name: Range<Int>, value: Range<Int>)] = []
}

/// Hop-by-hop fields HTTP/2 forbids (RFC 9113 §8.2.2), and the fields the server sets itself.
private let http2ServerSetFields: Set<String> = [
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length", "date",
]

/// Encodes the header fields a handler gave for an HTTP/2 response; invalid
/// fields are dropped and reported via `problems`.
func encodeHTTP2Fields(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> HTTP2Fields {
    var encoded = HTTP2Fields()
    for field in fields {
        let name = field.name.lowercased()
        if http2ServerSetFields.contains(name) { continue }
        guard !name.isEmpty, name.utf8.allSatisfy(isTChar), field.value.utf8.allSatisfy(isFieldValueByte) else {
            problems.append(.invalidHeader(field.name))
            continue
        }
        let nameStart = encoded.bytes.count
        encoded.bytes.append(contentsOf: name.utf8)
        let valueStart = encoded.bytes.count
        encoded.bytes.append(contentsOf: field.value.utf8)
        encoded.spans.append((nameStart..<valueStart, valueStart..<encoded.bytes.count))
    }
    return encoded
}

/// The encoding of the header fields of the last response an event loop sent
/// (as HTTP/1.1 lines, or for HTTP/2). Handlers mostly answer with one shared
/// array of fields (a constant), whose checked encoding is then reused. The
/// array is recognised by its storage, which the cache keeps alive, so no
/// other array can have it meanwhile. An encoding with problems is not kept:
/// they are reported every time.
struct FieldsCache<Encoded> {
    private var fields: [(name: String, value: String)] = []
    private var encoded: Encoded
    private let empty: Encoded
    private let encoder: ([(name: String, value: String)], inout [ResponseProblem]) -> Encoded

    init(empty: Encoded, encoder: @escaping ([(name: String, value: String)], inout [ResponseProblem]) -> Encoded) {
        self.encoded = empty
        self.empty = empty
        self.encoder = encoder
    }

    mutating func encode(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> Encoded {
        if fields.isEmpty { return empty }
        let same = fields.count == self.fields.count && fields.sharesStorage(with: self.fields)
        if same { return encoded }
        let encoded = encoder(fields, &problems)
        if problems.isEmpty {
            self.fields = fields
            self.encoded = encoded
        }
        return encoded
    }
}

/// Encodes the status line and header section of `response` with `status`
/// (checked: ``ResponseValidation``), its fields encoded already
/// (``encodeHeaderFields(_:problems:)``) and `dateLine` the `Date` line that
/// ends the head. Returns the head bytes and whether the body must be sent.
func encodeResponseHead(
    _ response: ServerResponse, status: Int, fields: EncodedFields, framing: ResponseFraming, dateLine: [UInt8]
) -> (head: [UInt8], sendBody: Bool) {
    var head: [UInt8] = []
    head.reserveCapacity(96 + fields.lines.count + dateLine.count)
    if status == 200 {
        head.append(contentsOf: statusLine200)
    } else {
        head.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status, to: &head)
        head.append(UInt8(ascii: " "))
        head.append(contentsOf: reasonPhrase(status).utf8)
        head.append(contentsOf: "\r\n".utf8)
    }
    head.append(contentsOf: fields.lines)
    // 204 has no Content-Length.
    let bodyAllowed = ResponseValidation.allowsBody(status)
    if status != 204 {
        head.append(contentsOf: contentLengthPrefix)
        appendDecimal(bodyAllowed ? response.body.count : 0, to: &head)
        head.append(contentsOf: crlf)
    }
    if framing.close {
        head.append(contentsOf: "Connection: close\r\n".utf8)
    } else if framing.http10 {
        head.append(contentsOf: "Connection: keep-alive\r\n".utf8)
    }
    head.append(contentsOf: dateLine)
    return (head, bodyAllowed && !framing.headRequest && !response.body.isEmpty)
}

private let contentLengthPrefix = Array("Content-Length: ".utf8)
private let crlf = Array("\r\n".utf8)
private let statusLine200 = Array("HTTP/1.1 200 OK\r\n".utf8)

/// Caches the IMF-fixdate for the current second (one per event loop).
struct DateCache {
    private var second = -1
    private var value = ""
    /// `Date: <value>` and the empty line that ends a response head.
    private(set) var headLine: [UInt8] = []
    /// The value as bytes (an HTTP/2 `date` field).
    private(set) var valueBytes: [UInt8] = []

    /// The `Date` line that ends a response head.
    mutating func currentHeadLine() -> [UInt8] {
        refresh()
        return headLine
    }

    /// The value as bytes.
    mutating func currentValueBytes() -> [UInt8] {
        refresh()
        return valueBytes
    }

    private mutating func refresh() {
        let now = WallClock.currentSecond()
        if now != second {
            second = now
            value = Self.format(now)
            headLine = Array("Date: \(value)\r\n\r\n".utf8)
            valueBytes = Array(value.utf8)
        }
    }

    static func format(_ second: Int) -> String {
        let tm = WallClock.utc(second)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[tm.weekday % 7]), \(two(tm.day)) \(months[(tm.month - 1) % 12]) \(tm.year) "
            + "\(two(tm.hour)):\(two(tm.minute)):\(two(tm.second)) GMT"
    }
}
