import Foundation
import StatefunLocks

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
            for fds in pools.values { for fd in fds { closeSocket(fd) } }
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
                closeSocket(fd)
            }
            return reply
        } catch {
            closeSocket(fd)
            throw error
        }
    }
}
