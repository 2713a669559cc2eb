import Foundation
import Glibc
import Testing

/// Reads everything the server sends until it closes the connection (or 10 s pass).
func readUntilClosed(_ connection: RawConnection) -> [UInt8] {
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return received }
        received += chunk[0..<n]
    }
}

/// Answers the server gives without a handler: whether they keep the connection.
@Suite("Rejections and the connection: 404/405 keep-alive, invalid HTTP/2 preface, empty DATA flood", .serialized)
struct RejectionFramingTests {
    @Test("a 404 or 405 whose framing is known keeps the connection (a body of known length is read and dropped)")
    func notFoundKeepsAlive() async throws {
        try await withTestServer { server in
            try await offloaded {
                let connection = try RawConnection(port: server.port)
                // No body, a Content-Length body, a wrong method, then a request that succeeds: one connection.
                try connection.send("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
                let first = try #require(try connection.readResponse())
                #expect(first.status == 404)
                #expect(first[header: "Connection"] == nil)
                #expect(first.bodyString.contains("no route for /nope"))
                try connection.send("POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello")
                try connection.send(" world")
                let second = try #require(try connection.readResponse())
                #expect(second.status == 404)
                try connection.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                let third = try #require(try connection.readResponse())
                #expect(third.status == 405)
                #expect(third[header: "Allow"] == "GET, HEAD, POST")
                // Pipelined, in one write: a 404 with a body, then a real request.
                try connection.send(
                    "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping")
                #expect(try connection.readResponse()?.status == 404)
                let echoed = try #require(try connection.readResponse())
                #expect(echoed.status == 200)
                #expect(echoed.bodyString == "ping")
                // HTTP/1.0 keeps it only when asked to.
                try connection.send("GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                let fourth = try #require(try connection.readResponse())
                #expect(fourth.status == 404)
                #expect(fourth[header: "Connection"]?.lowercased() == "keep-alive")
                try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                let last = try #require(try connection.readResponse())
                #expect(last.status == 200)
                #expect(last.bodyString == "hello")
            }
            #expect(server.logs.rejections.map { $0.metadata["status"] } == ["404", "404", "405", "404", "404"])
        }
    }

    @Test("a connection that begins with the HTTP/2 preface's request line and goes on wrong gets GOAWAY(PROTOCOL_ERROR), then closed")
    func invalidPrefaceGetsGoaway() async throws {
        try await withTestServer { server in
            for preface in ["PRI * HTTP/2.0\r\n\r\nINVALID\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", "PRI * HTTP/2.0\r\nHost: t\r\n\r\n"] {
                let received = try await offloaded {
                    let connection = try RawConnection(port: server.port)
                    try connection.send(preface)
                    return readUntilClosed(connection)
                }
                // length 8, type GOAWAY (7), no flags, stream 0; last stream 0; PROTOCOL_ERROR (1).
                #expect(received == [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "\(preface.debugDescription): \(received)")
            }
            try await expectServerHealthy(server)
        }
    }

    @Test("a flood of empty DATA frames ends the connection with GOAWAY(ENHANCE_YOUR_CALM)")
    func emptyDataFlood() async throws {
        try await withProductionServer { server in
            let result = try await python(rawHTTP2Prelude + """
                client = Client(int(sys.argv[1]))
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")],
                               end_stream=False)
                try:
                    client.send(frame(DATA, 0, 1) * 5000)
                except OSError:
                    pass
                client.sock.settimeout(10)
                try:
                    client.read_until(lambda c: c.eof)
                except (OSError, TimeoutError):
                    pass
                print("\\n".join(client.events))
                """, ["\(server.port)"])
            #expect(result.stdoutString.contains("GOAWAY 11 "), "\(result.stdoutString) \(result.stderr)")
            #expect(server.logs.all.contains { $0.message.contains("flood of empty DATA frames") })
            // A few in a row are fine.
            let few = try await python(rawHTTP2Prelude + """
                client = Client(int(sys.argv[1]))
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")],
                               end_stream=False)
                client.send(frame(DATA, 0, 1) * 50 + frame(DATA, 0, 1, b"ab") + frame(DATA, 0, 1) * 50
                            + frame(DATA, END_STREAM, 1, b"cd"))
                client.read_until(lambda c: 1 in c.ended)
                print("\\n".join(client.events))
                """, ["\(server.port)"])
            #expect(few.stdoutString.contains("RESPONSE 1 200 'abcd'"), "\(few.stdoutString) \(few.stderr)")
        }
    }
}
