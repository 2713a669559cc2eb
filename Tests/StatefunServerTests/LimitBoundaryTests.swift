import Foundation
import StatefunServer
import Testing

/// The limits the README states, tested on each side of their boundary over
/// HTTP/1.1: a body of exactly `maxBodySize` (the runtime's largest legal
/// batch) and a head of exactly `maxHeaderSize` are accepted; one byte more is refused.
@Suite("Limits at their boundary (HTTP/1.1)", .serialized)
struct LimitBoundaryTests {
    static let maxBody = 1000
    static let maxHead = 2048

    /// One request on a connection of its own: its status, and its body.
    func exchange(_ server: TestServer, _ request: [UInt8]) async throws -> (status: Int, body: String, bytes: [UInt8]) {
        let port = server.port
        return try await offloaded {
            let connection = try RawConnection(port: port)
            try connection.send(request)
            guard let response = try connection.readResponse() else { return (0, "no response", []) }
            return (response.status, response.bodyString, response.body)
        }
    }

    func contentLength(_ size: Int) -> [UInt8] {
        Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(size)\r\n\r\n".utf8) + patternBytes(size)
    }

    func chunked(_ size: Int) -> [UInt8] {
        // Two chunks, so that the limit is met across them.
        let body = patternBytes(size)
        let first = size / 2, second = size - first
        var bytes = Array("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        bytes += Array("\(String(first, radix: 16))\r\n".utf8) + body[..<first] + Array("\r\n".utf8)
        bytes += Array("\(String(second, radix: 16))\r\n".utf8) + body[first...] + Array("\r\n0\r\n\r\n".utf8)
        return bytes
    }

    @Test("a body of exactly maxBodySize is accepted and one byte more is 413, with Content-Length and chunked")
    func bodySize() async throws {
        try await withTestServer({ $0.maxBodySize = Self.maxBody }) { server in
            for (framing, request) in [("Content-Length", contentLength), ("chunked", chunked)] {
                let atLimit = try await exchange(server, request(Self.maxBody))
                #expect(atLimit.status == 200, "\(framing) at the limit: \(atLimit.status) \(atLimit.body)")
                #expect(atLimit.bytes == patternBytes(Self.maxBody), "\(framing): the body echoed whole")
                let over = try await exchange(server, request(Self.maxBody + 1))
                #expect(over.status == 413, "\(framing) one byte over: \(over)")
                #expect(over.body.contains("exceeds the limit of \(Self.maxBody) bytes"), "\(framing): \(over.body)")
            }
        }
    }

    /// A GET whose head (request line, headers and the blank line) is `size` bytes.
    func head(_ size: Int) -> [UInt8] {
        let start = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Pad: "
        let end = "\r\n\r\n"
        return Array((start + String(repeating: "p", count: size - start.utf8.count - end.utf8.count) + end).utf8)
    }

    @Test("a head of exactly maxHeaderSize is accepted and one byte more is 431")
    func headSize() async throws {
        try await withTestServer({ $0.maxHeaderSize = Self.maxHead }) { server in
            #expect(head(Self.maxHead).count == Self.maxHead)
            let atLimit = try await exchange(server, head(Self.maxHead))
            #expect(atLimit.status == 200, "at the limit: \(atLimit)")
            let over = try await exchange(server, head(Self.maxHead + 1))
            #expect(over.status == 431, "one byte over: \(over)")
        }
    }
}
