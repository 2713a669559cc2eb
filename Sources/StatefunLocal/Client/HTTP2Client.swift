// An HTTP/2 cleartext client (prior knowledge, RFC 9113 §3.3) through
// libnghttp2's client session: one connection per endpoint transport carrying
// many concurrent streams, each connection driven by a thread of its own with
// non-blocking I/O and poll(2). nghttp2 does the framing, HPACK, flow control
// and the peer's concurrency limit (requests above it wait in its queue).
import Foundation
import StatefunLocks

/// Sends requests over HTTP/2 connections, one per endpoint transport, made on demand.
///
/// A connection that failed, or that received GOAWAY, takes no new requests:
/// the next request opens a new one. Requests on a connection that fails, and
/// streams the server resets or refuses, fail with ``LocalRuntimeError/connection(_:)``,
/// which the runtime retries as it retries any connection error.
package final class HTTP2Client: Sendable {
    private let connections = Lock<[EndpointURL.Transport: HTTP2Connection]>([:])
    private let timeout: Duration

    package init(timeout: Duration = .seconds(60)) {
        self.timeout = timeout
    }

    deinit { close() }

    /// Ends every connection (streams in flight fail).
    package func close() {
        let all = connections.withLock { map in
            defer { map = [:] }
            return Array(map.values)
        }
        for connection in all { connection.stop() }
    }

    /// POSTs `body` to `endpoint` on a stream of the endpoint's connection.
    package func post(_ body: [UInt8], to endpoint: EndpointURL) async throws -> HTTPReply {
        let authority: String
        switch endpoint.transport {
        case let .tcp(host, port): authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix: authority = "localhost"
        }
        return try await withThreadHandoff { deliver in
            let request = HTTP2Request(
                path: endpoint.path, authority: authority, body: body, continuation: ReplyDelivery(deliver: deliver))
            connections.withLock { map in
                // The endpoint's connection, unless it takes no more requests (failed, or GOAWAY):
                // then a new one, which starts with this request.
                if let existing = map[endpoint.transport], existing.submit(request) { return }
                map[endpoint.transport] = HTTP2Connection(transport: endpoint.transport, timeout: timeout, first: request)
            }
        }
    }
}
