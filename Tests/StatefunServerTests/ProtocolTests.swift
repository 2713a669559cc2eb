import Foundation
import StatefunServer
import Testing

@Suite("HTTP/1.1 protocol behaviour over raw sockets")
struct ProtocolTests {
    @Test("pipelined requests in one write are answered in order")
    func pipelining() async throws {
        try await withTestServer { server in
            let responses = try await offloaded { () -> [RawResponse?] in
                let connection = try RawConnection(port: server.port)
                try connection.send(
                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
                        + "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
                        + "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                        + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfinal")
                var responses: [RawResponse?] = []
                for _ in 0..<4 { responses.append(try connection.readResponse()) }
                #expect(try connection.readsEOF())
                return responses
            }
            #expect(responses.map { $0?.status } == [200, 200, 200, 200])
            #expect(responses.map { $0?.bodyString } == ["first", "second", "hello", "final"])
            #expect(responses.map { $0?[header: "Connection"] } == [nil, nil, nil, "close"])
        }
    }

    @Test("a pipelined request split across writes at awkward places still works")
    func pipeliningByteByByte() async throws {
        try await withTestServer { server in
            let responses = try await offloaded { () -> [RawResponse?] in
                let connection = try RawConnection(port: server.port)
                let requests = "\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                    + "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
                for byte in Array(requests.utf8) {
                    try connection.send([byte])
                    usleep(200)
                }
                return [try connection.readResponse(), try connection.readResponse()]
            }
            #expect(responses.map { $0?.bodyString } == ["abc", "de"])
        }
    }

    @Test("bodies in any pieces reach the handler intact: read whole, grown, or with the next request behind")
    func bodiesInPieces() async throws {
        try await withTestServer { server in
            let small = patternBytes(1000, seed: 3)
            let medium = patternBytes(200 * 1024, seed: 4)  // read whole, straight into the body
            let large = patternBytes(300 * 1024, seed: 5)  // above the whole-body size: grown
            let state = patternBytes(64 * 1024 + 17, seed: 6)  // a 64 KiB state's size
            let responses = try await offloaded { () -> [RawResponse?] in
                let connection = try RawConnection(port: server.port)
                func head(_ count: Int) -> [UInt8] {
                    Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(count)\r\n\r\n".utf8)
                }
                // The head alone, then the body in three pieces.
                try connection.send(head(medium.count))
                usleep(20_000)
                try connection.send(Array(medium[0..<1]))
                usleep(20_000)
                try connection.send(Array(medium[1..<150_000]))
                usleep(20_000)
                // The rest of the body with the whole next request behind it, and part of a third.
                try connection.send(Array(medium[150_000...]) + head(small.count) + small + head(large.count)
                    + Array(large[0..<100]))
                usleep(20_000)
                try connection.send(Array(large[100...]))
                // Head and body in one write, the body whole.
                try connection.send(head(small.count) + small)
                // After large bodies, heads are read on their own and the rest of each
                // body straight into it: one request a write, then two large ones and
                // a small one in one write.
                var responses = try (0..<4).map { _ in try connection.readResponse() }
                for _ in 0..<2 {
                    try connection.send(head(state.count) + state)
                    responses.append(try connection.readResponse())
                }
                try connection.send(head(state.count) + state + head(medium.count) + medium + head(small.count) + small)
                return try responses + (0..<3).map { _ in try connection.readResponse() }
            }
            #expect(responses.map { $0?.status } == Array(repeating: 200, count: 9))
            let counts: [Int?] = [medium.count, small.count, large.count, small.count,
                                  state.count, state.count, state.count, medium.count, small.count]
            #expect(responses.map { $0?.body.count } == counts)
            #expect(responses[0]?.body == medium)
            #expect(responses[1]?.body == small)
            #expect(responses[2]?.body == large)
            #expect(responses[3]?.body == small)
            #expect(responses[4...6].allSatisfy { $0?.body == state })
            #expect(responses[7]?.body == medium)
            #expect(responses[8]?.body == small)
        }
    }

    @Test("a header array shared by responses is encoded alike every time, bad fields dropped every time")
    func sharedResponseHeaders() async throws {
        try await withTestServer { server in
            let (responses, closed) = try await offloaded { () -> ([RawResponse?], Bool) in
                let connection = try RawConnection(port: server.port)
                var responses: [RawResponse?] = []
                for path in ["/shared", "/hello", "/shared", "/shared-evil", "/shared", "/shared-evil", "/shared-close"] {
                    try connection.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
                    responses.append(try connection.readResponse())
                }
                return (responses, try connection.readsEOF())
            }
            #expect(responses.map { $0?.status } == [200, 200, 200, 200, 200, 200, 200])
            #expect(responses.map { $0?.bodyString } == ["shared", "hello", "shared", "evil", "shared", "evil", "bye"])
            for i in [0, 2, 4] {
                #expect(responses[i]?[header: "Content-Type"] == "text/x-shared")
                #expect(responses[i]?[header: "X-Shared"] == "1")
            }
            #expect(responses[1]?[header: "X-Shared"] == nil)
            for i in [3, 5] {
                #expect(responses[i]?[header: "X-Good"] == "yes")
                #expect(responses[i]?[header: "X-Evil"] == nil)
                #expect(responses[i]?[header: "Injected"] == nil)
            }
            // The shared array asks to close: the server says so itself, and closes.
            #expect(responses[6]?[header: "X-Shared"] == "2")
            #expect(responses[6]?[header: "Connection"] == "close")
            #expect(closed)
        }
    }

    @Test("keep-alive: several requests on one connection")
    func keepAlive() async throws {
        try await withTestServer { server in
            try await offloaded {
                let connection = try RawConnection(port: server.port)
                for i in 0..<5 {
                    let body = "request \(i)"
                    try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                    let response = try connection.readResponse()
                    #expect(response?.status == 200)
                    #expect(response?.bodyString == body)
                    #expect(response?[header: "Connection"] == nil)
                    #expect(response?[header: "Date"]?.hasSuffix(" GMT") == true)
                }
            }
        }
    }

    @Test("HTTP/1.0 closes by default and keeps alive only when asked")
    func http10() async throws {
        try await withTestServer { server in
            let (plain, closed) = try await rawExchange(port: server.port, Array("GET /hello HTTP/1.0\r\n\r\n".utf8))
            #expect(plain?.status == 200)
            #expect(plain?.bodyString == "hello")
            #expect(plain?[header: "Connection"] == "close")
            #expect(closed)

            try await offloaded {
                let connection = try RawConnection(port: server.port)
                for _ in 0..<2 {
                    try connection.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                    let response = try connection.readResponse()
                    #expect(response?.bodyString == "hello")
                    #expect(response?[header: "Connection"] == "keep-alive")
                }
            }
        }
    }

    @Test("Connection: close from the client closes after the response")
    func clientConnectionClose() async throws {
        try await withTestServer { server in
            let (response, closed) = try await rawExchange(
                port: server.port, Array("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: Keep-Alive, CLOSE\r\n\r\n".utf8))
            #expect(response?.bodyString == "hello")
            #expect(response?[header: "Connection"] == "close")
            #expect(closed)
        }
    }

    @Test("a handler's Connection: close closes the connection")
    func handlerConnectionClose() async throws {
        try await withTestServer { server in
            let (response, closed) = try await rawExchange(
                port: server.port, Array("GET /close HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            #expect(response?.bodyString == "bye")
            #expect(response?[header: "Connection"] == "close")
            #expect(closed)
        }
    }

    @Test("request head fields reach the handler: path, query, version, headers")
    func requestFields() async throws {
        try await withTestServer { server in
            let (response, _) = try await rawExchange(
                port: server.port,
                Array("GET /info?a=1&b=2 HTTP/1.1\r\nhost:   example.org  \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n".utf8))
            #expect(response?.status == 200)
            #expect(response?.bodyString == """
                method=GET
                path=/info
                query=a=1&b=2
                version=HTTP/1.1
                host=example.org
                X-Empty=
                X-Tab=v
                host=example.org
                """)
        }
    }

    @Test("absolute-form and asterisk targets")
    func targetForms() async throws {
        try await withTestServer { server in
            let (absolute, _) = try await rawExchange(
                port: server.port, Array("GET http://example.org:8080/info?x HTTP/1.1\r\nHost: example.org\r\n\r\n".utf8))
            #expect(absolute?.status == 200)
            #expect(absolute?.bodyString.contains("path=/info\nquery=x\n") == true)
            let (asterisk, _) = try await rawExchange(port: server.port, Array("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            #expect(asterisk?.status == 404)
        }
    }

    @Test("HEAD gets the headers of GET without a body")
    func head() async throws {
        try await withTestServer { server in
            try await offloaded {
                let connection = try RawConnection(port: server.port)
                try connection.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                let head = try connection.readResponse(headRequest: true)
                #expect(head?.status == 200)
                #expect(head?[header: "Content-Length"] == "5")
                // The connection is still in sync: the next response follows directly.
                try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try connection.readResponse()?.bodyString == "hello")
            }
        }
    }

    @Test("204 has neither body nor Content-Length")
    func noContent() async throws {
        try await withTestServer { server in
            try await offloaded {
                let connection = try RawConnection(port: server.port)
                try connection.send("GET /empty HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                let empty = try connection.readResponse()
                #expect(empty?.status == 204)
                #expect(empty?[header: "Content-Length"] == nil)
                #expect(try connection.readResponse()?.bodyString == "hello")
            }
        }
    }

    @Test("invalid response headers from a handler are dropped, not sent")
    func responseSplitting() async throws {
        try await withTestServer { server in
            let (response, _) = try await rawExchange(port: server.port, Array("GET /evil HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            #expect(response?.status == 200)
            #expect(response?[header: "X-Good"] == "yes")
            #expect(response?[header: "X-Evil"] == nil)
            #expect(response?[header: "Injected"] == nil)
            #expect(response?.bodyString == "ok")
        }
    }

    @Test("chunked upload with extensions and trailers, and an empty chunked body")
    func chunkedDetails() async throws {
        try await withTestServer { server in
            let (response, _) = try await rawExchange(
                port: server.port,
                Array(("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"
                    + "4 ; name=\"quoted;value\"\r\nWiki\r\n0006\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n"
                    + "0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n").utf8))
            #expect(response?.status == 200)
            #expect(response?.bodyString == "Wikipedia in \r\n\r\nchunks.")
            let (empty, _) = try await rawExchange(
                port: server.port, Array("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8))
            #expect(empty?.status == 200)
            #expect(empty?.body == [])
        }
    }

    @Test("Expect: 100-continue gets an interim 100 before the body is sent")
    func expectContinueRaw() async throws {
        try await withTestServer { server in
            try await offloaded {
                let connection = try RawConnection(port: server.port)
                try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
                let interim = try connection.readResponse()
                #expect(interim?.status == 100)
                try connection.send("data")
                let final = try connection.readResponse()
                #expect(final?.status == 200)
                #expect(final?.bodyString == "data")
            }
        }
    }

    @Test("no 100 Continue for requests rejected up front")
    func expectContinueRejected() async throws {
        try await withTestServer({ $0.maxBodySize = 10 }) { server in
            for (request, status) in [
                ("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n", 413),
                ("POST /nope HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 404),
                ("PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 405),
            ] {
                let (response, closed) = try await rawExchange(port: server.port, Array(request.utf8))
                #expect(response?.status == status)  // the first response, so no 100 came before it
                #expect(closed)
            }
        }
    }

    @Test("idle keep-alive connections are closed after the idle timeout")
    func idleTimeout() async throws {
        try await withTestServer({ $0.idleTimeout = .milliseconds(500) }) { server in
            let closedAfterIdle = try await offloaded { () -> Bool in
                let connection = try RawConnection(port: server.port)
                // Two requests in one write: the connection is kept alive after the first...
                try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                for _ in 0..<2 {
                    let response = try connection.readResponse()
                    #expect(response?.bodyString == "hello")
                    #expect(response?[header: "Connection"] == nil)
                }
                // ...and closed once idle (a hang would make the read time out and throw).
                return try connection.readsEOF()
            }
            #expect(closedAfterIdle)
            let silentClosed = try await offloaded { try RawConnection(port: server.port).readsEOF() }
            #expect(silentClosed)
            try await expectServerHealthy(server)
        }
    }

    @Test("an early 413 reaches a client that is still uploading (no reset from unread data)")
    func earlyRejectWhileUploading() async throws {
        try await withTestServer({ $0.maxBodySize = 1 << 20 }) { server in
            let body = patternBytes(4 << 20)
            let response = try await offloaded { () -> RawResponse? in
                let connection = try RawConnection(port: server.port)
                // The server answers after the head; the client keeps sending regardless.
                try connection.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
                return try connection.readResponse()
            }
            #expect(response?.status == 413)
            #expect(response?[header: "Connection"] == "close")
            try await expectServerHealthy(server)
        }
    }

    @Test("a half-closed client still gets its response")
    func halfClose() async throws {
        try await withTestServer { server in
            let response = try await offloaded { () -> RawResponse? in
                let connection = try RawConnection(port: server.port)
                try connection.send("POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
                connection.shutdownWrite()
                return try connection.readResponse()
            }
            #expect(response?.bodyString == "slow done: 3 bytes")
        }
    }
}
