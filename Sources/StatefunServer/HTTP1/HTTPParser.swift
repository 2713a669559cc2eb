// A strict HTTP/1.x request parser (RFC 9112). The head is parsed in place in
// the connection's read buffer; only the strings a ServerRequest needs are
// materialised. Anything ambiguous is rejected rather than guessed at, since
// lenient parsing is how request-smuggling bugs happen.

/// A protocol error: the status to answer with and a short human-readable reason.
struct HTTPError: Error {
    var status: Int
    var message: String

    init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

enum HTTPVersion {
    case http10
    case http11

    var string: String {
        switch self {
        case .http10: "HTTP/1.0"
        case .http11: "HTTP/1.1"
        }
    }
}

/// The request head, with the framing-relevant headers already interpreted.
struct ParsedHead {
    var method: String = ""
    var path: String = ""
    var query: String?
    var version: HTTPVersion = .http11
    var headers: [(name: String, value: String)] = []
    /// The declared Content-Length, if any.
    var contentLength: Int?
    /// True if `Transfer-Encoding: chunked` frames the body.
    var chunked = false
    var connectionClose = false
    var connectionKeepAlive = false
    var expectContinue = false
    /// An `Upgrade` header is present (h2c upgrades are looked for only then).
    var upgrade = false
    /// Where the Content-Length value sits in the head's bytes, and which of
    /// `headers` it is (for ``HeadCache``).
    var contentLengthValue: Range<Int>?
    var contentLengthHeader: Int?

    /// Whether the connection may serve another request after this one.
    var keepAlive: Bool {
        if connectionClose { return false }
        switch version {
        case .http11: return true
        case .http10: return connectionKeepAlive && !chunked
        }
    }

    var hasBody: Bool { chunked || (contentLength ?? 0) > 0 }
}

// MARK: - Character classes

/// tchar (RFC 9110 §5.6.2): ALPHA, DIGIT and `!#$%&'*+-.^_`|~`, as two
/// 64-bit masks over ASCII (a test of one bit, not a chain of comparisons;
/// ParserTests checks them against the definition).
@inline(__always) func isTChar(_ c: UInt8) -> Bool {
    if c < 64 { return (0x03FF_6CFA_0000_0000 as UInt64) >> UInt64(c) & 1 != 0 }
    if c < 128 { return (0x57FF_FFFF_C7FF_FFFE as UInt64) >> UInt64(c - 64) & 1 != 0 }
    return false
}

/// field-vchar / SP / HTAB (obs-text allowed, as RFC 9110 permits).
@inline(__always) func isFieldValueByte(_ c: UInt8) -> Bool {
    c == 0x09 || (c >= 0x20 && c != 0x7F)
}

@inline(__always) func isOWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

@inline(__always) func hexValue(_ c: UInt8) -> Int? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A") + 10)
    default: nil
    }
}

let CR = UInt8(ascii: "\r")
let LF = UInt8(ascii: "\n")

// MARK: - Head scanning

enum HeadScan {
    /// More bytes are needed; resume scanning at `resumeAt`.
    case incomplete(resumeAt: Int)
    /// The head spans `start..<end` (end is just past the terminating CRLFCRLF).
    case complete(end: Int)
}

/// Looks for the CRLFCRLF ending a request head in `buffer[start..<buffer.count]`,
/// resuming at `from` (a previous `resumeAt`). Rejects bare LF line endings at once.
func scanHead(_ buffer: Span<UInt8>, start: Int, from: Int) throws(HTTPError) -> HeadScan {
    var i = max(from, start)
    let end = buffer.count
    // From one LF to the next with memchr (vectorised), not byte by byte.
    while i < end, let found = ByteScan.firstIndex(of: LF, in: buffer, from: i) {
        i = found
        if i == start || buffer[i - 1] != CR { throw HTTPError(400, "bare LF line ending in request head") }
        // Every LF was checked to follow a CR, so LF at i-2 means CRLFCRLF.
        if i - 2 > start && buffer[i - 2] == LF { return .complete(end: i + 1) }
        i += 1
    }
    return .incomplete(resumeAt: end)
}

// MARK: - Head parsing

/// Parses a complete request head (request line, header lines, the empty line).
func parseHead(_ head: Span<UInt8>) throws(HTTPError) -> ParsedHead {
    var result = ParsedHead()
    // Room for a typical request's fields: growing the array one field at a time costs more.
    result.headers.reserveCapacity(8)
    var lineStart = 0
    var isFirstLine = true
    var hostCount = 0
    var transferEncoding: [String] = []
    var unsupportedExpectation: String?

    while lineStart < head.count {
        // scanHead guaranteed each LF is preceded by CR.
        var lf = lineStart
        while lf < head.count && head[lf] != LF { lf += 1 }
        guard lf < head.count else { throw HTTPError(400, "unterminated line in request head") }
        let line = head.extracting(lineStart..<(lf - 1))
        let lineOffset = lineStart
        lineStart = lf + 1

        if isFirstLine {
            isFirstLine = false
            try parseRequestLine(line, into: &result)
            continue
        }
        if line.isEmpty { break }  // end of head
        if isOWS(line[0]) { throw HTTPError(400, "obsolete line folding in header section") }

        // field-name ":" OWS field-value OWS
        var colon = 0
        while colon < line.count && line[colon] != UInt8(ascii: ":") {
            let c = line[colon]
            if isOWS(c) { throw HTTPError(400, "whitespace between header name and colon") }
            if !isTChar(c) { throw HTTPError(400, "invalid character in header name") }
            colon += 1
        }
        if colon == line.count { throw HTTPError(400, "header line without a colon") }
        if colon == 0 { throw HTTPError(400, "empty header name") }
        var valueStart = colon + 1
        var valueEnd = line.count
        while valueStart < valueEnd && isOWS(line[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && isOWS(line[valueEnd - 1]) { valueEnd -= 1 }
        for i in valueStart..<valueEnd where !isFieldValueByte(line[i]) {
            throw HTTPError(400, "control character in header value")
        }
        let nameBytes = line.extracting(0..<colon)
        let valueBytes = line.extracting(valueStart..<valueEnd)
        let value = makeHeaderString(valueBytes)

        switch nameBytes.count {
        case 4 where bytesEqualLowercase(nameBytes, "host"):
            hostCount += 1
        case 14 where bytesEqualLowercase(nameBytes, "content-length"):
            if result.contentLength != nil { throw HTTPError(400, "multiple Content-Length headers") }
            result.contentLength = try parseContentLength(valueBytes)
            let offset = lineOffset + valueStart
            result.contentLengthValue = offset..<(offset + valueBytes.count)
            result.contentLengthHeader = result.headers.count
        case 17 where bytesEqualLowercase(nameBytes, "transfer-encoding"):
            transferEncoding.append(value)
        case 10 where bytesEqualLowercase(nameBytes, "connection"):
            for token in value.split(separator: ",") {
                let t = token.trimmingOWS()
                if asciiCaseInsensitiveEquals(t, "close") { result.connectionClose = true }
                if asciiCaseInsensitiveEquals(t, "keep-alive") { result.connectionKeepAlive = true }
            }
        case 7 where bytesEqualLowercase(nameBytes, "upgrade"):
            result.upgrade = true
        case 6 where bytesEqualLowercase(nameBytes, "expect"):
            if asciiCaseInsensitiveEquals(value, "100-continue") {
                result.expectContinue = true
            } else {
                unsupportedExpectation = value
            }
        default:
            break
        }
        result.headers.append((name: makeHeaderString(nameBytes), value: value))
    }

    if result.version == .http11 && hostCount == 0 { throw HTTPError(400, "missing Host header") }
    if hostCount > 1 { throw HTTPError(400, "multiple Host headers") }
    if !transferEncoding.isEmpty {
        if result.contentLength != nil {
            throw HTTPError(400, "both Content-Length and Transfer-Encoding present")
        }
        guard transferEncoding.count == 1, asciiCaseInsensitiveEquals(transferEncoding[0], "chunked") else {
            throw HTTPError(501, "unsupported Transfer-Encoding: \(transferEncoding.joined(separator: ", "))")
        }
        result.chunked = true
    }
    if let expectation = unsupportedExpectation {
        throw HTTPError(417, "unsupported expectation: \(expectation)")
    }
    return result
}

private let http11 = Array("HTTP/1.1".utf8)
private let http10 = Array("HTTP/1.0".utf8)
private let httpSlash = Array("HTTP/".utf8)

private func parseRequestLine(_ line: Span<UInt8>, into result: inout ParsedHead) throws(HTTPError) {
    // method SP request-target SP HTTP-version, single spaces only.
    var i = 0
    while i < line.count && line[i] != 0x20 {
        if !isTChar(line[i]) { throw HTTPError(400, "malformed request line: invalid method") }
        i += 1
    }
    if i == 0 || i == line.count { throw HTTPError(400, "malformed request line") }
    let methodEnd = i
    i += 1
    let targetStart = i
    while i < line.count && line[i] != 0x20 {
        let c = line[i]
        if c <= 0x20 || c >= 0x7F || c == UInt8(ascii: "#") {
            throw HTTPError(400, "malformed request line: invalid character in target")
        }
        i += 1
    }
    if i == targetStart || i == line.count { throw HTTPError(400, "malformed request line") }
    let targetEnd = i
    let version = line.extracting((i + 1)..<line.count)

    if version.count == 8 && ByteScan.equal(version, at: 0, http11, at: 0, count: 8) {
        result.version = .http11
    } else if version.count == 8 && ByteScan.equal(version, at: 0, http10, at: 0, count: 8) {
        result.version = .http10
    } else if version.count == 8, ByteScan.equal(version, at: 0, httpSlash, at: 0, count: 5),
        (0x30...0x39).contains(version[5]), version[6] == UInt8(ascii: "."), (0x30...0x39).contains(version[7])
    {
        throw HTTPError(505, "HTTP version not supported: \(makeString(version))")
    } else {
        throw HTTPError(400, "malformed request line: invalid HTTP version")
    }

    result.method = makeHeaderString(line.extracting(0..<methodEnd))
    try parseTarget(line.extracting(targetStart..<targetEnd), into: &result)
}

/// Splits a request target into path and query. Accepts origin-form (`/p?q`),
/// absolute-form (`http://host/p?q`, whose authority is ignored) and `*`.
private func parseTarget(_ target: Span<UInt8>, into result: inout ParsedHead) throws(HTTPError) {
    var pathStart = 0
    if target[0] == UInt8(ascii: "/") {
        pathStart = 0
    } else if target.count == 1 && target[0] == UInt8(ascii: "*") {
        result.path = "*"
        return
    } else {
        // absolute-form: scheme "://" authority [path-abempty] ["?" query]
        var i = 0
        while i < target.count, target[i] != UInt8(ascii: ":") { i += 1 }
        let scheme = target.extracting(0..<i)
        guard bytesEqualLowercase(scheme, "http") || bytesEqualLowercase(scheme, "https"),
            i + 2 < target.count, target[i + 1] == UInt8(ascii: "/"), target[i + 2] == UInt8(ascii: "/")
        else { throw HTTPError(400, "malformed request target") }
        i += 3
        while i < target.count, target[i] != UInt8(ascii: "/"), target[i] != UInt8(ascii: "?") { i += 1 }
        pathStart = i
    }
    var q = pathStart
    while q < target.count, target[q] != UInt8(ascii: "?") { q += 1 }
    result.path = q == pathStart ? "/" : makeString(target.extracting(pathStart..<q))
    if q < target.count {
        result.query = makeString(target.extracting((q + 1)..<target.count))
    }
}

func parseContentLength(_ value: Span<UInt8>) throws(HTTPError) -> Int {
    if value.isEmpty { throw HTTPError(400, "empty Content-Length") }
    var n = 0
    for i in value.indices {
        let c = value[i]
        guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else {
            throw HTTPError(400, "invalid Content-Length")
        }
        let (m, o1) = n.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
        if o1 || o2 { throw HTTPError(400, "Content-Length too large") }
        n = s
    }
    return n
}

extension Substring {
    func trimmingOWS() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
