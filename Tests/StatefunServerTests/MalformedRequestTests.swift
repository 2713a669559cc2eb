import Foundation
import StatefunServer
import Testing

/// A request a strict server must reject, and how.
struct BadRequest: Sendable, CustomStringConvertible {
    var name: String
    var bytes: [UInt8]
    var status: Int
    /// A fragment the text/plain error body must contain.
    var cause: String

    init(_ name: String, _ text: String, _ status: Int, _ cause: String) {
        self.name = name
        self.bytes = Array(text.utf8)
        self.status = status
        self.cause = cause
    }

    var description: String { name }

    static let all: [BadRequest] = [
        .init("garbage request line", "GARBAGE\r\n\r\n", 400, "malformed request line"),
        .init("double space in request line", "GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n", 400, "malformed request line"),
        .init("invalid method character", "GE(T /hello HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid method"),
        .init("space in target", "GET /hel lo HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid HTTP version"),
        .init("control character in target", "GET /hel\u{7}lo HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid character in target"),
        .init("relative target", "GET hello HTTP/1.1\r\nHost: t\r\n\r\n", 400, "malformed request target"),
        .init("lowercase version", "GET /hello http/1.1\r\nHost: t\r\n\r\n", 400, "invalid HTTP version"),
        .init("trailing garbage after version", "GET /hello HTTP/1.1x\r\nHost: t\r\n\r\n", 400, "invalid HTTP version"),
        .init("HTTP/2.0 request line", "GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP version not supported"),
        .init("bare LF line endings", "GET /hello HTTP/1.1\nHost: t\n\n", 400, "bare LF"),
        .init("bare LF in a header", "GET /hello HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400, "bare LF"),
        .init("bare CR in a header value", "GET /hello HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400, "control character"),
        .init("obs-fold", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n", 400, "obsolete line folding"),
        .init("whitespace before colon", "GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400, "whitespace between header name and colon"),
        .init("header without colon", "GET /hello HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400, "without a colon"),
        .init("empty header name", "GET /hello HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 400, "empty header name"),
        .init("invalid header name", "GET /hello HTTP/1.1\r\nHost: t\r\nX(y): z\r\n\r\n", 400, "invalid character in header name"),
        .init("control character in value", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\u{1}b\r\n\r\n", 400, "control character"),
        .init("NUL in value", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\u{0}b\r\n\r\n", 400, "control character"),
        .init("missing Host", "GET /hello HTTP/1.1\r\n\r\n", 400, "missing Host"),
        .init("two Host headers", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple Host"),
        .init("Content-Length with Transfer-Encoding",
              "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              400, "both Content-Length and Transfer-Encoding"),
        .init("Transfer-Encoding with Content-Length",
              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              400, "both Content-Length and Transfer-Encoding"),
        .init("two identical Content-Lengths",
              "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "multiple Content-Length"),
        .init("Content-Length list", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello", 400, "invalid Content-Length"),
        .init("non-numeric Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400, "invalid Content-Length"),
        .init("negative Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"),
        .init("plus-signed Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello", 400, "invalid Content-Length"),
        .init("empty Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n", 400, "empty Content-Length"),
        .init("overflowing Content-Length",
              "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, "Content-Length too large"),
        .init("unknown Transfer-Encoding", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported Transfer-Encoding"),
        .init("Transfer-Encoding list", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
              "unsupported Transfer-Encoding"),
        .init("two Transfer-Encoding headers",
              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501,
              "unsupported Transfer-Encoding"),
        .init("chunk size overflow",
              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nx\r\n0\r\n\r\n", 400,
              "chunk size too large"),
        .init("non-hex chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n", 400,
              "invalid chunk size"),
        .init("empty chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\r\nx\r\n0\r\n\r\n", 400,
              "invalid chunk size"),
        .init("negative chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400,
              "invalid chunk size"),
        .init("chunk data longer than its size",
              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", 400,
              "chunk data not followed by CRLF"),
        .init("bare LF after chunk size",
              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, "invalid chunk size"),
        .init("bare LF in trailer",
              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\n\r\n", 400, "bare LF"),
        .init("unsupported expectation", "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello", 417,
              "unsupported expectation"),
        // 404 and 405 with known framing keep the connection: RejectionFramingTests.
        .init("unknown path, chunked body", "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 404,
              "no route for /nope"),
        .init("wrong method, Connection: close", "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 405,
              "method GET not allowed for /echo"),
        .init("Content-Length over the body limit", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n", 413,
              "exceeds the limit of 1048576 bytes"),
        .init("chunked body over the body limit",
              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n80000\r\n" + String(repeating: "a", count: 0x80000)
                + "\r\n80001\r\n", 413, "exceeds the limit of 1048576 bytes"),
    ]
}

@Suite("Malformed and rejected requests")
struct MalformedRequestTests {
    @Test("is rejected with the right status, closed, logged, and the server keeps serving", arguments: BadRequest.all)
    func rejected(_ bad: BadRequest) async throws {
        try await withTestServer({ $0.maxBodySize = 1 << 20 }) { server in
            let (response, closed) = try await rawExchange(port: server.port, bad.bytes)
            let r = try #require(response, "no response for \(bad.name)")
            #expect(r.status == bad.status)
            #expect(r.bodyString.contains(bad.cause), "body was: \(r.bodyString)")
            #expect(r[header: "Content-Type"] == "text/plain; charset=utf-8")
            #expect(r[header: "Connection"] == "close")
            #expect(r[header: "Content-Length"] == "\(r.body.count)")
            #expect(closed, "server kept the connection open after \(bad.status)")
            let logged = server.logs.rejections
            #expect(logged.count == 1)
            #expect(logged.first?.metadata["status"] == "\(bad.status)")
            #expect(logged.first?.metadata["cause"]?.contains(bad.cause) == true)
            #expect(logged.first?.metadata["peer"]?.hasPrefix("127.0.0.1:") == true)
            try await expectServerHealthy(server)
        }
    }

    @Test("405 carries an Allow header listing the route's methods")
    func allowHeader() async throws {
        try await withTestServer { server in
            let (response, _) = try await rawExchange(
                port: server.port, Array("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            #expect(response?.status == 405)
            #expect(response?[header: "Allow"] == "GET, HEAD, POST")
        }
    }

    @Test("an over-long head is rejected with 431 while it is still arriving")
    func headTooLargeWhileReceiving() async throws {
        try await withTestServer { server in
            let result = try await offloaded { () -> (RawResponse?, Bool) in
                let connection = try RawConnection(port: server.port)
                // Never terminate the head: the server must not wait for CRLFCRLF.
                try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "b", count: 17 * 1024))
                let response = try connection.readResponse()
                return (response, try connection.readsEOF())
            }
            #expect(result.0?.status == 431)
            #expect(result.0?.bodyString.contains("request head exceeds the limit of 16384 bytes") == true)
            #expect(result.1)
            try await expectServerHealthy(server)
        }
    }

    @Test("an endless header line without CRLF is rejected with 431")
    func unterminatedHeaderLine() async throws {
        try await withTestServer({ $0.maxHeaderSize = 1024 }) { server in
            let (response, closed) = try await rawExchange(
                port: server.port, Array(("GET /" + String(repeating: "x", count: 4000)).utf8))
            #expect(response?.status == 431)
            #expect(closed)
            try await expectServerHealthy(server)
        }
    }

    @Test("a head that does not complete in time gets 408 and is closed")
    func headerTimeout() async throws {
        try await withTestServer({ $0.headerTimeout = .milliseconds(300) }) { server in
            let (response, closed) = try await rawExchange(
                port: server.port, Array("POST /echo HTTP/1.1\r\nHost: t\r\n".utf8))
            #expect(response?.status == 408)
            #expect(response?.bodyString.contains("request head not received") == true)
            #expect(closed)
            try await expectServerHealthy(server)
        }
    }

    @Test("random binary garbage never crashes or hangs the server")
    func garbage() async throws {
        try await withTestServer { server in
            for seed in 1...20 {
                let bytes = patternBytes(2000, seed: UInt32(seed))
                let (response, closed) = try await rawExchange(port: server.port, bytes)
                #expect(response?.status == 400)
                #expect(closed)
            }
            try await expectServerHealthy(server)
        }
    }

    @Test("a client that disconnects mid-request does not disturb the server")
    func disconnectMidRequest() async throws {
        try await withTestServer { server in
            try await offloaded {
                for partial in ["POST /echo HTTP/1.1\r\nHo", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
                                "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"] {
                    let connection = try RawConnection(port: server.port)
                    try connection.send(partial)
                    connection.shutdownWrite()
                    #expect(try connection.readsEOF())
                }
            }
            try await expectServerHealthy(server)
        }
    }
}
