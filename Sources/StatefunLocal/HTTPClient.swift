import Foundation
import StatefunLocks

/// Where an endpoint listens: TCP host and port, or a Unix socket, and the URL path.
package struct EndpointURL: Sendable, Hashable, CustomStringConvertible {
    package enum Transport: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    package let transport: Transport
    package let path: String
    /// Spoken over HTTP/2 cleartext with prior knowledge (`h2c://`, `h2c+unix://`, or `--h2c`).
    package let http2: Bool

    /// Parses `http://host[:port]/path` or the runtime's `http+unix:///path/to/socket.sock/url/path`,
    /// or the same with `h2c` for `http`: HTTP/2 cleartext (prior knowledge) instead of HTTP/1.1.
    package init(_ url: String) throws {
        let unixSchemes = ["http+unix://", "h2c+unix://"]
        let tcpSchemes = ["http://", "h2c://"]
        if let scheme = unixSchemes.first(where: url.hasPrefix) {
            http2 = scheme.hasPrefix("h2c")
            let rest = String(url.dropFirst(scheme.count))
            guard let range = rest.range(of: ".sock") else {
                throw LocalRuntimeError.configuration("a Unix-socket endpoint must name a .sock file: \(url)")
            }
            transport = .unix(path: String(rest[..<range.upperBound]))
            let tail = String(rest[range.upperBound...])
            path = tail.isEmpty ? "/" : tail
        } else if let scheme = tcpSchemes.first(where: url.hasPrefix) {
            http2 = scheme.hasPrefix("h2c")
            let rest = url.dropFirst(scheme.count)
            let authority = rest.prefix { $0 != "/" }
            path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
            if let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) {
                var host = String(authority[..<colon])
                if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                transport = .tcp(host: host, port: port)
            } else {
                transport = .tcp(host: String(authority), port: 80)
            }
        } else {
            throw LocalRuntimeError.configuration(
                "unsupported endpoint URL (http://, http+unix://, h2c:// or h2c+unix:// only): \(url)")
        }
    }

    private init(transport: Transport, path: String, http2: Bool) {
        self.transport = transport
        self.path = path
        self.http2 = http2
    }

    /// The same endpoint spoken over HTTP/2 cleartext.
    package var overHTTP2: EndpointURL { EndpointURL(transport: transport, path: path, http2: true) }

    package var description: String {
        let scheme = http2 ? "h2c" : "http"
        switch transport {
        case let .tcp(host, port): return "\(scheme)://\(host):\(port)\(path)"
        case let .unix(socket): return "\(scheme)+unix://\(socket)\(path)"
        }
    }
}

/// An HTTP response as the runtime reads it.
package struct HTTPReply: Sendable {
    package let status: Int
    package let contentType: String?
    package let body: [UInt8]
}

/// A small blocking HTTP/1.1 client with keep-alive connections per endpoint,
/// run on threads of its own so that it never blocks Swift's task pool. It
/// speaks as the runtime does: POST, `application/octet-stream`, Content-Length.
/// Endpoints spoken over HTTP/2 (`h2c` URLs, or all of them with `http2`) go
/// through an ``HTTP2Client``: one multiplexed connection per endpoint.
package final class HTTPClient: Sendable {
    private let idle = Lock<[EndpointURL.Transport: [Int32]]>([:])
    private let timeout: Duration
    private let http2: HTTP2Client
    private let allHTTP2: Bool

    /// - Parameter http2: speak HTTP/2 cleartext (prior knowledge) to every endpoint, not only to `h2c` URLs.
    package init(timeout: Duration = .seconds(60), http2: Bool = false) {
        self.timeout = timeout
        self.http2 = HTTP2Client(timeout: timeout)
        self.allHTTP2 = http2
    }

    deinit {
        idle.withLock { pools in
            for fds in pools.values { for fd in fds { close(fd) } }
        }
    }

    /// POSTs `body` to `endpoint`. A connection error throws.
    package func post(_ body: [UInt8], to endpoint: EndpointURL) async throws -> HTTPReply {
        if endpoint.http2 || allHTTP2 { return try await http2.post(body, to: endpoint) }
        return try await withThreadHandoff { deliver in
            Thread { deliver(Result { try self.postBlocking(body, to: endpoint) }) }.start()
        }
    }

    private func postBlocking(_ body: [UInt8], to endpoint: EndpointURL) throws -> HTTPReply {
        let host: String
        switch endpoint.transport {
        case let .tcp(name, port): host = "\(name):\(port)"
        case .unix: host = "localhost"
        }
        let head = "POST \(endpoint.path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/octet-stream\r\n"
            + "Accept: application/octet-stream\r\nUser-Agent: statefun-local\r\nContent-Length: \(body.count)\r\n\r\n"
        // A pooled connection may have been closed by the server meanwhile: then retry once on a new one.
        if let fd = idle.withLock({ $0[endpoint.transport]?.popLast() }) {
            if let reply = try? exchange(fd, Array(head.utf8) + body, endpoint) { return reply }
        }
        let fd = try connectSocket(endpoint.transport, timeout: timeout)
        return try exchange(fd, Array(head.utf8) + body, endpoint)
    }

    private func exchange(_ fd: Int32, _ request: [UInt8], _ endpoint: EndpointURL) throws -> HTTPReply {
        do {
            try sendAll(fd, request)
            var reader = ResponseReader(fd: fd)
            let (reply, keepAlive) = try reader.read()
            if keepAlive {
                idle.withLock { $0[endpoint.transport, default: []].append(fd) }
            } else {
                close(fd)
            }
            return reply
        } catch {
            close(fd)
            throw error
        }
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LocalRuntimeError.connection("send: \(errnoText())")
            }
            sent += n
        }
    }
}

/// Reads one HTTP/1.1 response: status line, headers, then a Content-Length or chunked body.
private struct ResponseReader {
    let fd: Int32
    var buffer: [UInt8] = []
    var position = 0

    init(fd: Int32) { self.fd = fd }

    mutating func read() throws -> (HTTPReply, keepAlive: Bool) {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw LocalRuntimeError.connection("malformed status line: \(statusLine)")
        }
        var headers: [(String, String)] = []
        while true {
            let header = try line()
            if header.isEmpty { break }
            guard let colon = header.firstIndex(of: ":") else { continue }
            headers.append((header[..<colon].lowercased(), header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        func field(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
        var body: [UInt8] = []
        if field("transfer-encoding")?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try line()
                guard let size = Int(sizeLine.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw LocalRuntimeError.connection("malformed chunk size: \(sizeLine)")
                }
                if size == 0 {
                    while try !line().isEmpty {}
                    break
                }
                body += try bytes(size)
                _ = try line()
            }
        } else if let length = field("content-length").flatMap(Int.init) {
            body = try bytes(length)
        }
        let keepAlive = parts[0] == "HTTP/1.1" && field("connection")?.lowercased() != "close"
            && (field("content-length") != nil || field("transfer-encoding") != nil)
        return (HTTPReply(status: status, contentType: field("content-type"), body: body), keepAlive)
    }

    private mutating func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return
            }
            if n < 0 && errno == EINTR { continue }
            throw LocalRuntimeError.connection(n == 0 ? "connection closed by the endpoint" : "recv: \(errnoText())")
        }
    }

    private mutating func line() throws -> String {
        while true {
            if let end = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) {
                var lineEnd = end
                if lineEnd > position, buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                let text = String(decoding: buffer[position..<lineEnd], as: UTF8.self)
                position = end + 1
                return text
            }
            guard buffer.count - position < 64 * 1024 else { throw LocalRuntimeError.connection("response head too long") }
            try fill()
        }
    }

    private mutating func bytes(_ count: Int) throws -> [UInt8] {
        while buffer.count - position < count { try fill() }
        defer { position += count }
        return Array(buffer[position..<(position + count)])
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// A connected stream socket to `transport`, with `timeout` for blocking sends and receives.
func connectSocket(_ transport: EndpointURL.Transport, timeout: Duration) throws -> Int32 {
    switch transport {
    case let .unix(path):
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LocalRuntimeError.connection("socket: \(errnoText())") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw LocalRuntimeError.configuration("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let text = errnoText()
            close(fd)
            throw LocalRuntimeError.connection("connect \(path): \(text)")
        }
        applyTimeout(fd, timeout)
        return fd
    case let .tcp(host, port):
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw LocalRuntimeError.connection("cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        var lastError = "no address"
        while let info = candidate {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 {
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    applyTimeout(fd, timeout)
                    return fd
                }
                lastError = errnoText()
                close(fd)
            }
            candidate = info.pointee.ai_next
        }
        throw LocalRuntimeError.connection("connect \(host):\(port): \(lastError)")
    }
}

private func applyTimeout(_ fd: Int32, _ timeout: Duration) {
    let (seconds, attoseconds) = timeout.components
    var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
}
