import Foundation
import StatefunServer
import Testing

/// A client that breaks the HTTP/2 rules in one way, and what the server must answer.
struct HTTP2Violation: Sendable, CustomTestStringConvertible {
    var name: String
    /// Python using the raw-frame `Client` (and `client`, already connected).
    var script: String
    /// Lines that must all appear among the client's events, in this order.
    var expected: [String]
    /// Lines that must not appear.
    var unexpected: [String] = []
    /// Lines that must appear, in any order.
    var unordered: [String] = []
    var testDescription: String { name }

    static let all: [HTTP2Violation] = [
        .init(
            name: "DATA on stream 0 is a connection error",
            script: #"client.send(frame(DATA, END_STREAM, 0, b"x"))"#,
            expected: ["GOAWAY PROTOCOL_ERROR last=0", "EOF"]),
        .init(
            name: "a client stream with an even id is a connection error",
            script: #"client.request(2, "GET", "/hello")"#,
            expected: ["GOAWAY PROTOCOL_ERROR last=0", "EOF"]),
        .init(
            name: "a request without :path is reset; the connection goes on",
            script: #"""
                client.headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", "t")])
                client.read_until(lambda c: 1 in c.resets)
                client.request(3, "GET", "/hello")
                """#,
            expected: ["RST 1 PROTOCOL_ERROR", "RESPONSE 3 200 'hello'"]),
        .init(
            name: "uppercase header names are reset; the connection goes on",
            script: #"""
                client.request(1, "GET", "/hello", extra=[("X-Upper", "1")])
                client.read_until(lambda c: 1 in c.resets)
                client.request(3, "GET", "/hello")
                """#,
            expected: ["RST 1 PROTOCOL_ERROR", "RESPONSE 3 200 'hello'"]),
        .init(
            name: "a body shorter than its content-length is reset; the connection goes on",
            script: #"""
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t"),
                                   ("content-length", "10")], end_stream=False)
                client.send(frame(DATA, END_STREAM, 1, b"12345"))
                client.read_until(lambda c: 1 in c.resets)
                client.request(3, "GET", "/hello")
                """#,
            expected: ["RST 1 PROTOCOL_ERROR", "RESPONSE 3 200 'hello'"]),
        .init(
            name: "a frame larger than SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR",
            script: #"""
                client.read_until(lambda c: c.server_settings is not None)
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")],
                               end_stream=False)
                client.send(frame(DATA, 0, 1, b"x" * (65536 + 1)))
                """#,
            expected: ["GOAWAY FRAME_SIZE_ERROR last=1", "EOF"]),
        .init(
            name: "an undecodable header block is a COMPRESSION_ERROR",
            script: #"client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\xff\xff"))"#,
            expected: ["GOAWAY COMPRESSION_ERROR last=1", "EOF"]),
        .init(
            name: "a WINDOW_UPDATE of zero on the connection is a PROTOCOL_ERROR",
            script: #"client.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))"#,
            expected: ["GOAWAY PROTOCOL_ERROR last=0", "EOF"]),
        .init(
            name: "a WINDOW_UPDATE beyond 2^31-1 is a FLOW_CONTROL_ERROR",
            script: #"client.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2**31 - 1)))"#,
            expected: ["GOAWAY FLOW_CONTROL_ERROR last=0", "EOF"]),
        .init(
            name: "a preface followed by something other than SETTINGS is a PROTOCOL_ERROR",
            script: #"""
                client = Client(port, preface=False)
                client.send(PREFACE + frame(PING, 0, 0, b"12345678"))
                """#,
            expected: ["GOAWAY PROTOCOL_ERROR last=0", "EOF"]),
        .init(
            name: "a stream beyond SETTINGS_MAX_CONCURRENT_STREAMS sent before the SETTINGS ACK is refused; the others are served",
            script: #"""
                for stream in (1, 3):
                    client.request(stream, "POST", "/hang")
                client.request(5, "POST", "/echo", b"one too many")
                client.read_until(lambda c: 5 in c.resets)
                other = Client(port)
                other.request(1, "POST", "/release")
                other.read_until(lambda c: 1 in c.ended)
                client.read_until(lambda c: {1, 3} <= c.ended)
                """#,
            expected: ["RST 5 REFUSED_STREAM"],
            unordered: ["RESPONSE 1 200 'released'", "RESPONSE 3 200 'released'"]),
        .init(
            name: "a client ignoring the acknowledged SETTINGS_MAX_CONCURRENT_STREAMS gets GOAWAY (RFC 9113 §5.4.1)",
            script: #"""
                client.read_until(lambda c: c.server_settings is not None)
                for stream in (1, 3):
                    client.request(stream, "POST", "/hang")
                client.request(5, "POST", "/echo", b"one too many")
                """#,
            expected: ["GOAWAY PROTOCOL_ERROR last=3", "EOF"]),
        .init(
            name: "a header list over the limit is answered 431; the connection goes on",
            script: #"""
                client.read_until(lambda c: c.server_settings is not None)
                client.request(1, "GET", "/hello", extra=[("x-big-1", "x" * 9000), ("x-big-2", "y" * 9000)])
                client.read_until(lambda c: 1 in c.ended)
                client.request(3, "GET", "/hello")
                """#,
            expected: ["RESPONSE 1 431 'request header list exceeds the limit of 16384 bytes\\n'", "RESPONSE 3 200 'hello'"]),
        .init(
            name: "a client reset of a stream whose handler runs drops its response; the connection goes on",
            script: #"""
                client.request(1, "POST", "/hang")
                client.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))
                client.request(3, "POST", "/release")
                client.read_until(lambda c: 3 in c.ended)
                client.request(5, "GET", "/hello")
                """#,
            expected: ["RESPONSE 3 200 'released the hang'", "RESPONSE 5 200 'hello'"]),
        .init(
            name: "an early 413 on a stream still uploading is followed by RST_STREAM(NO_ERROR); the connection goes on",
            script: #"""
                client.read_until(lambda c: c.server_settings is not None)
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")],
                               end_stream=False)
                client.send(frame(DATA, 0, 1, b"x" * 60000))
                client.read_until(lambda c: 1 in c.resets)
                client.request(3, "GET", "/hello")
                """#,
            expected: ["RESPONSE 1 413 'request body exceeds the limit of 50000 bytes\\n'", "RST 1 NO_ERROR", "RESPONSE 3 200 'hello'"]),
        .init(
            name: "an early answer to a stream whose declared rest fits its window: no reset, the rest is discarded",
            script: #"""
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/missing"), (":authority", "t"),
                                   ("content-length", "30000")], end_stream=False)
                client.read_until(lambda c: 1 in c.ended)
                client.send(frame(DATA, 0, 1, b"x" * 16000))
                client.send(frame(DATA, END_STREAM, 1, b"y" * 14000))
                client.request(3, "GET", "/hello")
                """#,
            expected: ["RESPONSE 1 404 'no route for /missing\\n'", "RESPONSE 3 200 'hello'"],
            unexpected: ["RST 1 NO_ERROR"]),
    ]
}

@Suite("HTTP/2 protocol errors", .serialized)
struct HTTP2ProtocolErrorTests {
    @Test("is answered with the right RST_STREAM or GOAWAY, and the server keeps serving", arguments: HTTP2Violation.all)
    func violation(_ violation: HTTP2Violation) async throws {
        try await withProductionServer({
            $0.http2.maxConcurrentStreams = 2
            $0.maxBodySize = 50000
        }) { server in
            // Read until the last expected response, or until the server closes the connection.
            let responses = (violation.expected + violation.unordered).filter { $0.hasPrefix("RESPONSE ") }
                .map { $0.split(separator: " ")[1] }
            let done = violation.expected.last == "EOF" || responses.isEmpty
                ? "lambda c: c.eof" : "lambda c: {\(responses.joined(separator: ", "))} <= c.ended"
            let script = rawHTTP2Prelude + """
                port = int(sys.argv[1])
                client = Client(port)

                """ + violation.script + """

                client.read_until(\(done))
                print("\\n".join(client.events))
                """
            let result = try await python(script, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            let events = result.stdoutString.split(separator: "\n").map(String.init)
            var remaining = events[...]
            for line in violation.expected {
                guard let index = remaining.firstIndex(of: line) else {
                    Issue.record("missing \(line) in \(events)")
                    break
                }
                remaining = remaining[(index + 1)...]
            }
            for line in violation.unordered {
                #expect(events.contains(line), "\(events)")
            }
            for line in violation.unexpected {
                #expect(!events.contains(line), "\(events)")
            }
            try await expectServerHealthy(server)
        }
    }

    @Test("random bytes after the preface never crash or hang the server")
    func garbageAfterPreface() async throws {
        try await withProductionServer { server in
            let result = try await python(rawHTTP2Prelude + #"""
                import random
                rng = random.Random(7)
                closed = 0
                for round in range(200):
                    client = Client(int(sys.argv[1]))
                    client.send(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))))
                    client.sock.settimeout(0.2)
                    try:
                        client.read_until(lambda c: c.eof)
                    except TimeoutError:
                        pass          # waiting for more input: also fine
                    closed += client.eof
                    client.sock.close()
                print("rounds done", closed > 0)
                """#, ["\(server.port)"])
            #expect(result.stdoutString == "rounds done True\n", "\(result.stderr)")
            try await expectServerHealthy(server)
        }
    }
}
