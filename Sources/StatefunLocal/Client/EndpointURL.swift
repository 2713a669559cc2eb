import Foundation

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

    package var description: String {
        let scheme = http2 ? "h2c" : "http"
        switch transport {
        case let .tcp(host, port): return "\(scheme)://\(host):\(port)\(path)"
        case let .unix(socket): return "\(scheme)+unix://\(socket)\(path)"
        }
    }
}
