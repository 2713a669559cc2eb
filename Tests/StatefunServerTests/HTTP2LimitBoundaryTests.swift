import Foundation
import StatefunServer
import Testing

/// One HTTP/2 limit tried at its boundary: `script` (after `rawHTTP2Prelude` and
/// `boundaryPrelude`, with `port` set) sends the request at the limit and the
/// one past it, each on a connection of its own, and prints `at: <events>` and
/// `past: <events>`.
struct HTTP2Boundary: Sendable, CustomTestStringConvertible {
    var name: String
    var script: String
    /// Lines the connection at the limit must show.
    var atLimit: [String]
    /// Lines the connection one past the limit must show.
    var pastLimit: [String]
    /// Lines it must not show.
    var notPastLimit: [String] = []
    /// A log message (prefix) the server must have written for the refusal, and what its `error` names.
    var log: String?
    var logError = ""
    var testDescription: String { name }

    static let maxBody = 1000
    static let maxHeader = 2048

    static let all: [HTTP2Boundary] = [
        .init(
            name: "body declared by content-length: maxBodySize accepted, one byte more 413",
            script: """
                for label, size in (("at", \(maxBody)), ("past", \(maxBody) + 1)):
                    client = Client(port)
                    client.request(1, "POST", "/echo", pattern(size))
                    client.read_until(lambda c: 1 in c.ended or c.eof)
                    report(label, client, echoed=client.body.get(1) == pattern(size))
                """,
            atLimit: ["RESPONSE 1 200", "echoed True"],
            pastLimit: ["RESPONSE 1 413 'request body of \(maxBody + 1) bytes exceeds the limit of \(maxBody) bytes\\n'"]),
        .init(
            name: "body without content-length, counted as it arrives: maxBodySize accepted, one byte more 413",
            script: """
                for label, size in (("at", \(maxBody)), ("past", \(maxBody) + 1)):
                    client = Client(port)
                    client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")],
                                   end_stream=False)
                    body = pattern(size)
                    client.send(frame(DATA, 0, 1, body[:600]) + frame(DATA, END_STREAM, 1, body[600:]))
                    client.read_until(lambda c: 1 in c.ended or c.eof)
                    report(label, client, echoed=client.body.get(1) == body)
                """,
            atLimit: ["RESPONSE 1 200", "echoed True"],
            pastLimit: ["RESPONSE 1 413 'request body exceeds the limit of \(maxBody) bytes\\n'"]),
        .init(
            name: "header list (RFC 9113 size: name + value + 32 per field) of maxHeaderSize accepted, one byte more 431",
            script: """
                base = [(":method", "GET"), (":scheme", "http"), (":path", "/hello"), (":authority", "t")]
                for label, size in (("at", \(maxHeader)), ("past", \(maxHeader) + 1)):
                    pad = size - list_size(base) - len("x-pad") - 32
                    fields = base + [("x-pad", "p" * pad)]
                    assert list_size(fields) == size
                    client = Client(port)
                    client.headers(1, fields)
                    client.read_until(lambda c: 1 in c.ended or c.eof)
                    client.request(3, "GET", "/hello")
                    client.read_until(lambda c: 3 in c.ended or c.eof)
                    report(label, client)
                """,
            atLimit: ["RESPONSE 1 200 'hello'", "RESPONSE 3 200 'hello'"],
            pastLimit: ["RESPONSE 1 431 'request header list exceeds the limit of \(maxHeader) bytes\\n'", "RESPONSE 3 200 'hello'"]),
        .init(
            name: "8 CONTINUATION frames after HEADERS accepted; a 9th ends the connection (nghttp2: too many CONTINUATIONs)",
            script: """
                fields = [(":method", "GET"), (":scheme", "http"), (":path", "/hello"), (":authority", "t")]
                fields += [("x-c%d" % i, "v" * 20) for i in range(12)]
                for label, count in (("at", 8), ("past", 9)):
                    client = Client(port)
                    block = client.encoder.encode(fields)
                    pieces = [block[i * len(block) // (count + 1):(i + 1) * len(block) // (count + 1)] for i in range(count + 1)]
                    assert all(pieces) and b"".join(pieces) == block
                    frames = frame(HEADERS, END_STREAM, 1, pieces[0])
                    for i, piece in enumerate(pieces[1:]):
                        frames += frame(CONTINUATION, END_HEADERS if i == count - 1 else 0, 1, piece)
                    client.send(frames)
                    client.read_until(lambda c: 1 in c.ended or c.eof)
                    if not client.eof:
                        client.request(3, "GET", "/hello")
                        client.read_until(lambda c: 3 in c.ended or c.eof)
                    report(label, client)
                """,
            atLimit: ["RESPONSE 1 200 'hello'", "RESPONSE 3 200 'hello'"],
            pastLimit: ["EOF"],
            notPastLimit: ["RESPONSE 1 200 'hello'"],
            log: "HTTP/2 connection failed", logError: "(-905)"),
        .init(
            name: "a SETTINGS frame of 32 entries accepted; 33 entries GOAWAY(ENHANCE_YOUR_CALM)",
            script: """
                for label, count in (("at", 32), ("past", 33)):
                    client = Client(port)
                    client.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 2, 0) * count))   # ENABLE_PUSH = 0, repeated
                    client.request(1, "GET", "/hello")
                    client.read_until(lambda c: 1 in c.ended or c.eof)
                    report(label, client)
                """,
            atLimit: ["RESPONSE 1 200 'hello'"],
            pastLimit: ["GOAWAY ENHANCE_YOUR_CALM last=0"],
            notPastLimit: ["RESPONSE 1 200 'hello'"],
            log: "HTTP/2 connection error; sent GOAWAY", logError: "ENHANCE_YOUR_CALM"),
        .init(
            name: "100 empty DATA frames in a row accepted; 101 GOAWAY(ENHANCE_YOUR_CALM)",
            script: """
                for label, count in (("at", 100), ("past", 101)):
                    client = Client(port)
                    client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")],
                                   end_stream=False)
                    client.send(frame(DATA, 0, 1) * count + frame(DATA, END_STREAM, 1, b"ab"))
                    client.read_until(lambda c: 1 in c.ended or c.eof)
                    report(label, client)
                """,
            atLimit: ["RESPONSE 1 200 'ab'"],
            pastLimit: ["GOAWAY ENHANCE_YOUR_CALM last=1"],
            notPastLimit: ["RESPONSE 1 200 'ab'"],
            log: "HTTP/2 flood of empty DATA frames"),  // (its GOAWAY is ours: the log names the frames counted)
        .init(
            // nghttp2's limit: a bucket of 1000 resets refilled at 33 a second (by whole seconds). Sent
            // at once, 1000 resets fit whatever the timing; 1001 are refused unless a second turns while
            // they are read (33 more then), so "one past" is 1100: more than 3 s of refill, read in
            // milliseconds. The streams ask for a path without a route, answered without a handler,
            // so that no handler still running holds a stream slot afterwards (see rapidReset).
            name: "1000 streams opened and reset at once: the connection lives; 1100: GOAWAY(INTERNAL_ERROR)",
            script: """
                for label, count in (("at", 1000), ("past", 1100)):
                    client = Client(port)
                    client.read_until(lambda c: c.server_settings is not None)
                    burst = b""
                    for i in range(count):
                        stream = 1 + 2 * i
                        block = client.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/no-route"), (":authority", "t")])
                        burst += frame(HEADERS, END_HEADERS | END_STREAM, stream, block) + frame(RST_STREAM, 0, stream, struct.pack(">I", 8))
                    client.send(burst)
                    last = 1 + 2 * count
                    try:
                        client.request(last, "GET", "/hello")
                    except OSError:
                        pass
                    client.read_until(lambda c: last in c.ended or c.eof)
                    report(label, client, last=last)
                """,
            atLimit: ["RESPONSE 2001 200 'hello'", "last 2001"],
            pastLimit: ["GOAWAY INTERNAL_ERROR"],
            notPastLimit: ["RESPONSE 2201 200 'hello'"],
            log: "HTTP/2 connection error; sent GOAWAY", logError: "INTERNAL_ERROR"),
    ]
}

/// Helpers for the boundary scripts.
let boundaryPrelude = #"""
ERRORS[11] = "ENHANCE_YOUR_CALM"
CONTINUATION = 9
port = int(sys.argv[1])

def pattern(size):
    return bytes((i * 7 + 3) % 251 for i in range(size))

def list_size(fields):
    return sum(len(name) + len(value) + 32 for name, value in fields)

def report(label, client, **extra):
    lines = [e[:200] for e in client.events]
    lines += ["%s %s" % (key, value) for key, value in extra.items()]
    for line in lines:
        print(label + ": " + line)

"""#

/// The limits and protections the README lists for HTTP/2, tried at their boundary:
/// the request at the limit is served and the connection goes on; the one past it
/// gets the stated refusal. LimitBoundaryTests does the same over HTTP/1.1.
@Suite("Limits at their boundary (HTTP/2)", .serialized)
struct HTTP2LimitBoundaryTests {
    @Test("at the limit served, one past it refused", arguments: HTTP2Boundary.all)
    func boundary(_ boundary: HTTP2Boundary) async throws {
        try await withProductionServer({
            $0.maxBodySize = HTTP2Boundary.maxBody
            $0.maxHeaderSize = HTTP2Boundary.maxHeader
        }) { server in
            let result = try await python(rawHTTP2Prelude + boundaryPrelude + boundary.script, ["\(server.port)"])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdoutString.split(separator: "\n").map(String.init)
            let at = lines.filter { $0.hasPrefix("at: ") }.map { String($0.dropFirst(4)) }
            let past = lines.filter { $0.hasPrefix("past: ") }.map { String($0.dropFirst(6)) }
            for expected in boundary.atLimit {
                #expect(at.contains { $0.hasPrefix(expected) }, "at the limit: missing \(expected) in \(at)")
            }
            #expect(!at.contains { $0.hasPrefix("GOAWAY") || $0 == "EOF" || $0.hasPrefix("RST") }, "at the limit: \(at)")
            for expected in boundary.pastLimit {
                #expect(past.contains { $0.hasPrefix(expected) }, "one past the limit: missing \(expected) in \(past)")
            }
            for unexpected in boundary.notPastLimit {
                #expect(!past.contains { $0.hasPrefix(unexpected) }, "one past the limit: \(past)")
            }
            if let log = boundary.log {
                let logged = server.logs.all.filter { $0.message.hasPrefix(log) }
                if !boundary.logError.isEmpty {
                    #expect(logged.contains { ($0.metadata["error"] ?? "").contains(boundary.logError) }, "\(logged.map(\.metadata))")
                }
                #expect(!logged.isEmpty, "\(server.logs.all.map(\.message))")
            }
            try await expectServerHealthy(server)
        }
    }
}
