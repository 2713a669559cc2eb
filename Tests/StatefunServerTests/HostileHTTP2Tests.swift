import Foundation
import Logging
import StatefunServer
import Synchronization
import Testing

// Hostile HTTP/2 clients (raw frames from Python, see rawHTTP2Prelude): one test
// per behaviour; each checks the server is still serving during and after it.

/// A flood of cheap frames sent without reading, and whether the connection may survive it.
struct FrameFlood: Sendable, CustomTestStringConvertible {
    var name: String
    /// Python expression for one frame (or a few).
    var unit: String
    var testDescription: String { name }

    static let all: [FrameFlood] = [
        .init(name: "SETTINGS flood", unit: "frame(SETTINGS, 0, 0)"),
        .init(name: "PING flood", unit: #"frame(PING, 0, 0, b"12345678")"#),
        .init(name: "empty DATA frame flood on an open stream", unit: "frame(DATA, 0, 1)"),
        .init(name: "WINDOW_UPDATE flood of increments of 1", unit: #"frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1))"#),
        .init(name: "PRIORITY flood", unit: #"frame(2, 0, 3, struct.pack(">IB", 1, 16))"#),
    ]
}

@Suite("Hostile HTTP/2 clients", .serialized)
struct HostileHTTP2Tests {
    @Test("rapid reset (CVE-2023-44487): 2000 streams opened and reset start exactly maxConcurrentStreams handlers, are refused, then GOAWAY(INTERNAL_ERROR); others are served")
    func rapidReset() async throws {
        let started = Atomic<Int>(0)
        let release = Gate()
        let counting = Route(path: "/counted-hang") { _ in
            started.add(1, ordering: .relaxed)
            await release.wait()
            return .text(200, "done")
        }
        try await withCustomServer([counting], { $0.http2.maxConcurrentStreams = 8 }) { server in
            let result = try await python(rawHTTP2Prelude + #"""
                port = int(sys.argv[1])
                client = Client(port)
                client.read_until(lambda c: c.server_settings is not None)
                burst = b""
                for i in range(2000):
                    stream = 1 + 2 * i
                    block = client.encoder.encode([(":method", "POST"), (":scheme", "http"), (":path", "/counted-hang"),
                                                   (":authority", "t")])
                    burst += frame(HEADERS, END_HEADERS | END_STREAM, stream, block) + frame(RST_STREAM, 0, stream, struct.pack(">I", 8))
                try:
                    client.send(burst)
                except OSError:
                    pass
                # Meanwhile another connection is served.
                other = Client(port)
                other.request(1, "GET", "/hello")
                other.read_until(lambda c: 1 in c.ended)
                print("\n".join(other.events))
                client.send = lambda data: None      # the server may be gone: read what it sent
                client.read_until(lambda c: c.eof)
                print("refused", sum(1 for e in client.resets.values() if e == "REFUSED_STREAM"))
                print("goaway", " ".join(name for name, _ in client.goaways))
                """#, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            let out = result.stdoutString
            #expect(out.contains("RESPONSE 1 200 'hello'"), "\(out)")
            // nghttp2's reset rate limit (1000 at once) ends the connection.
            #expect(out.contains("goaway INTERNAL_ERROR\n"), "\(out)")
            let refused = out.split(separator: "\n").first { $0.hasPrefix("refused ") }.flatMap { Int($0.dropFirst(8)) } ?? 0
            #expect(refused > 0, "\(out)")
            // The first 8 streams' handlers run (they count until they return); every later stream
            // is refused before a handler starts: exactly 8, however the reads split the burst.
            try await waitUntil("the first 8 handlers to start") { started.load(ordering: .relaxed) >= 8 }
            #expect(started.load(ordering: .relaxed) == 8, "\(out)")
            #expect(server.logs.all.filter { $0.message.hasPrefix("refusing HTTP/2 streams") }.count == 1)
            release.open()
            try await expectServerHealthy(server)
            #expect(started.load(ordering: .relaxed) == 8)
        }
    }

    @Test("a frame flood sent without reading: the server stays responsive", arguments: FrameFlood.all)
    func flood(_ flood: FrameFlood) async throws {
        try await withProductionServer { server in
            let result = try await python(rawHTTP2Prelude + """
                port = int(sys.argv[1])
                client = Client(port)
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")],
                               end_stream=False)
                unit = \(flood.unit)
                client.sock.settimeout(5)
                sent = 0
                try:
                    for _ in range(100):
                        client.send(unit * 2000)
                        sent += 2000
                except OSError:
                    pass          # the server stopped reading (backpressure) or closed: both fine
                other = Client(port)
                other.request(1, "GET", "/hello")
                other.read_until(lambda c: 1 in c.ended)
                print("\\n".join(other.events))
                try:
                    client.send(frame(DATA, END_STREAM, 1, b"after"))
                    client.read_until(lambda c: c.eof or 1 in c.ended)
                except (OSError, TimeoutError):
                    pass
                print("sent", sent, "flooder:", " | ".join(e for e in client.events if not e.startswith("RST")), file=sys.stderr)
                """, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutString.contains("RESPONSE 1 200 'hello'"), "\(result.stdoutString) \(result.stderr)")
            // The flooder either got its request answered or a GOAWAY; never a wrong answer.
            #expect(!result.stderr.contains("RESPONSE 1") || result.stderr.contains("RESPONSE 1 200 'after'"), "\(result.stderr)")
            print("\(flood.name): \(result.stderr)")
            try await expectServerHealthy(server)
        }
    }

    @Test("an HPACK bomb (one big indexed field referenced thousands of times) is answered 431; the connection goes on")
    func hpackBomb() async throws {
        try await withProductionServer { server in
            let result = try await python(rawHTTP2Prelude + #"""
                port = int(sys.argv[1])
                client = Client(port)
                fields = [(":method", "GET"), (":scheme", "http"), (":path", "/hello"), (":authority", "t")]
                block = client.encoder.encode(fields + [("x-bomb", "a" * 4000)] * 10000)
                print("block bytes", len(block), file=sys.stderr)   # ~14 KB decoding to ~40 MB
                client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
                client.read_until(lambda c: 1 in c.ended)
                client.request(3, "GET", "/hello")
                client.read_until(lambda c: 3 in c.ended)
                print("\n".join(client.events))
                """#, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutString.contains("RESPONSE 1 431 'request header list exceeds the limit of 16384 bytes\\n'"),
                    "\(result.stdoutString)")
            #expect(result.stdoutString.contains("RESPONSE 3 200 'hello'"), "\(result.stdoutString)")
            try await expectServerHealthy(server)
        }
    }

    @Test("a header list spread over many CONTINUATION frames ends the connection (too many CONTINUATIONs), no response")
    func continuationFlood() async throws {
        try await withProductionServer { server in
            let result = try await python(rawHTTP2Prelude + #"""
                port = int(sys.argv[1])
                client = Client(port)
                CONTINUATION = 9
                client.send(frame(HEADERS, END_STREAM, 1, client.encoder.encode(
                    [(":method", "GET"), (":scheme", "http"), (":path", "/hello"), (":authority", "t")])))
                try:
                    for i in range(1000):
                        client.send(frame(CONTINUATION, 0, 1, client.encoder.encode([("x-c%d" % i, "v" * 1000)])))
                except OSError:
                    pass
                client.send = lambda data: None      # the server may be gone: read what it sent
                client.sock.settimeout(10)
                client.read_until(lambda c: c.eof or 1 in c.ended)
                print("\n".join(client.events))
                """#, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            let out = result.stdoutString
            // nghttp2 allows 8 CONTINUATION frames (HTTP2LimitBoundaryTests: 8 are served); the 9th is a
            // fatal session error, NGHTTP2_ERR_TOO_MANY_CONTINUATIONS: the connection is closed, no GOAWAY.
            #expect(out.hasSuffix("EOF\n"), "\(out)")
            #expect(!out.contains("RESPONSE 1"), "\(out)")
            let failures = server.logs.all.filter { $0.message == "HTTP/2 connection failed" }
            #expect(failures.count == 1, "\(server.logs.all.map(\.message))")
            #expect(failures.first?.metadata["error"]?.hasSuffix("(-905)") == true, "\(failures.map(\.metadata))")
            try await expectServerHealthy(server)
        }
    }

    @Test("an invalid connection preface that does not begin as HTTP/2 is answered as the HTTP/1.1 error it is, and closed")
    func invalidPreface() async throws {
        try await withProductionServer({ $0.headerTimeout = .milliseconds(300) }) { server in
            // (One that begins with the preface's request line gets a GOAWAY: RejectionFramingTests.)
            // The preface cut short is the start of one still arriving: 408 once the head timeout passes.
            // An HTTP/1.1-shaped request naming HTTP/2.0 is a version the server does not speak that way: 505.
            for (preface, status, text) in [
                ("PRI * HTTP/2.0\r\n\r\n", 408, "request head not received within 0.3 seconds\n"),
                ("PRI / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP version not supported: HTTP/2.0\n"),
            ] {
                let (response, closed) = try await rawExchange(port: server.port, Array(preface.utf8))
                #expect(response?.status == status, "\(preface.debugDescription): \(String(describing: response))")
                #expect(response?.bodyString == text, "\(preface.debugDescription): \(String(describing: response))")
                #expect(closed)
            }
            // The real preface followed by HTTP/1.1 instead of frames.
            let result = try await python(rawHTTP2Prelude + #"""
                client = Client(int(sys.argv[1]), preface=False)
                client.send(PREFACE + b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                client.read_until(lambda c: c.eof)
                print("\n".join(client.events))
                """#, ["\(server.port)"])
            #expect(result.stdoutString.contains("GOAWAY PROTOCOL_ERROR"), "\(result.stdoutString) \(result.stderr)")
            try await expectServerHealthy(server)
        }
    }

    @Test("streams left open while the client keeps the connection busy with PINGs are answered 408, then reset")
    func streamsLeftOpen() async throws {
        try await withProductionServer({
            $0.idleTimeout = .milliseconds(500)
            $0.http2.maxConcurrentStreams = 4
        }) { server in
            let result = try await python(rawHTTP2Prelude + #"""
                port = int(sys.argv[1])
                client = Client(port)
                for stream in (1, 3, 5, 7):
                    client.headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t"),
                                            ("content-length", "100")], end_stream=False)
                    client.send(frame(DATA, 0, stream, b"partial"))
                client.sock.settimeout(0.1)
                for _ in range(600):          # at most a minute
                    try:
                        # Answered 408; then, still stalled, reset: their slots are free again.
                        client.read_until(lambda c: {1, 3, 5, 7} <= c.ended and {1, 3, 5, 7} <= set(c.resets) or c.eof)
                        break
                    except TimeoutError:
                        client.send(frame(PING, 0, 0, b"busybusy"))   # the connection is never idle
                client.sock.settimeout(30)
                client.request(9, "GET", "/hello")
                client.read_until(lambda c: 9 in c.ended or c.eof)
                print("\n".join(client.events))
                """#, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            for stream in [1, 3, 5, 7] {
                #expect(result.stdoutString.contains("RESPONSE \(stream) 408"), "\(result.stdoutString)")
                #expect(result.stdoutString.contains("RST \(stream) CANCEL"), "\(result.stdoutString)")
            }
            #expect(result.stdoutString.contains("RESPONSE 9 200 'hello'"), "\(result.stdoutString)")
            try await expectServerHealthy(server)
        }
    }

    @Test("window-update abuse: a response held back by a window kept closed is reset; one trickled through 1-byte windows arrives intact")
    func windowUpdateAbuse() async throws {
        try await withProductionServer({ $0.idleTimeout = .milliseconds(500) }) { server in
            let result = try await python(rawHTTP2Prelude + #"""
                port = int(sys.argv[1])
                client = Client(port)
                client.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)))   # SETTINGS_INITIAL_WINDOW_SIZE = 0
                client.request(1, "GET", "/large?size=100000")
                client.sock.settimeout(0.1)
                for _ in range(600):
                    try:
                        client.read_until(lambda c: 1 in c.resets or 1 in c.ended or c.eof)
                        break
                    except TimeoutError:
                        client.send(frame(PING, 0, 0, b"busybusy"))
                print("stream 1:", client.resets.get(1), 1 in client.ended)
                client.sock.settimeout(30)
                # 1-byte windows: the client's automatic WINDOW_UPDATE returns each byte as it arrives.
                client.request(3, "GET", "/large?size=3000")
                client.send(frame(WINDOW_UPDATE, 0, 3, struct.pack(">I", 1)))
                client.read_until(lambda c: 3 in c.ended or c.eof)
                print("stream 3:", client.status.get(3), len(client.body.get(3, b"")))
                sys.stdout.buffer.write(client.body.get(3, b""))
                """#, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            let text = result.stdoutString
            #expect(text.hasPrefix("stream 1: CANCEL False\nstream 3: 200 3000\n"), "\(text.prefix(200))")
            let headerLength = "stream 1: CANCEL False\nstream 3: 200 3000\n".utf8.count
            #expect(Array(result.stdout.dropFirst(headerLength)) == patternBytes(3000))
            #expect(server.logs.all.contains { $0.message.hasPrefix("HTTP/2 stream made no progress") })
            try await expectServerHealthy(server)
        }
    }
}

/// Starts a server with the standard, production and `extra` routes, runs `body`, always stops it.
func withCustomServer(
    _ extra: [Route], _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (TestServer) async throws -> Void
) async throws {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 2)
    configure(&configuration)
    let hooks = TestHooks()
    let logs = LogStore()
    let logger = Logger(label: "test.server") { _ in RecordingLogHandler(store: logs) }
    let server = HTTPServer(
        configuration: configuration, routes: extra + testRoutes(hooks) + productionRoutes(hooks), logger: logger)
    try server.start()
    let test = TestServer(server: server, hooks: hooks, logs: logs)
    do {
        try await body(test)
    } catch {
        await test.stop()
        throw error
    }
    await test.stop()
}
