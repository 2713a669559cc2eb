import CoreMetrics
import Foundation
import Logging
import Prometheus
import StatefunServer
import Synchronization
import Testing

// Support for the HTTP/2, Unix socket, scheduling, observability and lifecycle tests.

/// The repository root (to find the Python venv).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The venv's Python (h2, hyperframe, hpack, httpx), made by scripts/install-deps.sh.
let venvPython = ProcessInfo.processInfo.environment["STATEFUN_PYTHON"]
    ?? repositoryRoot.appendingPathComponent(".venv/bin/python").path

/// Runs a Python program given as source text (on a thread of its own, like every subprocess here).
func python(_ source: String, _ arguments: [String]) async throws -> ProcessResult {
    try await runProcess(venvPython, ["-c", source] + arguments)
}

/// Routes the production tests add to the standard test routes.
func productionRoutes(_ hooks: TestHooks) -> [Route] {
    [
        // Opens the gate /hang waits on: lets a client release a hanging request itself.
        Route(path: "/release") { _ in
            hooks.releaseHang.open()
            return .text(200, "released the hang")
        },
        // The name of the thread the handler runs on.
        Route(path: "/thread", methods: ["GET"]) { _ in
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            return .text(200, name.trimmingCharacters(in: .whitespacesAndNewlines))
        },
        // The size and a checksum (the byte sum, mod 2^32) of the body: checks a big upload without echoing it.
        Route(path: "/digest") { request in
            let sum = request.body.reduce(into: UInt32(0)) { $0 &+= UInt32($1) }
            return .text(200, "\(request.body.count) \(sum)")
        },
        // A handler without suspension points: whether it ran in a task, and on which thread.
        Route(path: "/sync", methods: ["GET", "POST"], synchronousHandler: { request in
            let inTask = withUnsafeCurrentTask { $0 != nil }
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            if let status = Int(request.query ?? "") {
                return ServerResponse(
                    status: status, headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
                    body: Array("failed on purpose\n".utf8), cause: "the test asked for \(status)")
            }
            return .text(200, "task=\(inTask) thread=\(name.trimmingCharacters(in: .whitespacesAndNewlines))")
        }),
        // Fails with the status in the query (`/fail?500`), a cause, and a text body.
        Route(path: "/fail") { request in
            let status = Int(request.query ?? "") ?? 500
            return ServerResponse(
                status: status, headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
                body: Array("failed on purpose\n".utf8), cause: "the test asked for \(status)")
        },
    ]
}

/// Starts a server with the standard and the production test routes.
func startProductionServer(
    metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance,
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in }
) throws -> TestServer {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 2)
    configure(&configuration)
    let hooks = TestHooks()
    let logs = LogStore()
    let logger = Logger(label: "test.server") { _ in RecordingLogHandler(store: logs) }
    let server = HTTPServer(
        configuration: configuration, routes: testRoutes(hooks) + productionRoutes(hooks), logger: logger,
        metricsFactory: metricsFactory, startupMetadata: ["suite": "production"])
    try server.start()
    return TestServer(server: server, hooks: hooks, logs: logs)
}

/// Starts a production test server, runs `body`, and always stops the server.
func withProductionServer(
    metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance,
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (TestServer) async throws -> Void
) async throws {
    let server = try startProductionServer(metricsFactory: metricsFactory, configure)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Polls `condition` until it holds; fails after a minute (a hang, not a slow machine).
func waitUntil(
    _ what: String = "condition", sourceLocation: SourceLocation = #_sourceLocation, _ condition: () throws -> Bool
) async throws {
    for _ in 0..<6000 {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
    throw TestFailure("timed out waiting for \(what)")
}

/// A path for a Unix socket (short: sun_path holds 107 bytes).
func temporarySocketPath() -> String {
    "/tmp/sf-\(UUID().uuidString.prefix(8)).sock"
}

// MARK: - Prometheus text

/// One sample of the Prometheus text format: `name{label="value",...} number`.
struct Sample: Equatable, CustomStringConvertible {
    var name: String
    var labels: [String: String]
    var value: Double
    var description: String { "\(name)\(labels) \(value)" }
}

/// Parses the samples of a Prometheus text exposition, strictly: a malformed line is an error.
func prometheusSamples(_ text: String) throws -> [Sample] {
    var samples: [Sample] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
        if line.hasPrefix("#") {
            guard line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") else {
                throw TestFailure("unexpected comment line: \(line)")
            }
            continue
        }
        var name = Substring(line)
        var labels: [String: String] = [:]
        var rest: Substring
        if let brace = line.firstIndex(of: "{") {
            name = line[..<brace]
            guard let close = line.lastIndex(of: "}") else { throw TestFailure("unclosed labels: \(line)") }
            var labelText = line[line.index(after: brace)..<close]
            while !labelText.isEmpty {
                guard let equals = labelText.firstIndex(of: "="),
                    labelText[labelText.index(after: equals)] == "\""
                else { throw TestFailure("bad label in: \(line)") }
                let key = String(labelText[..<equals])
                var index = labelText.index(equals, offsetBy: 2)
                var value = ""
                while labelText[index] != "\"" {
                    if labelText[index] == "\\" { index = labelText.index(after: index) }
                    value.append(labelText[index])
                    index = labelText.index(after: index)
                }
                labels[key] = value
                labelText = labelText[labelText.index(after: index)...]
                if labelText.first == "," { labelText = labelText.dropFirst() }
            }
            rest = line[line.index(after: close)...]
        } else {
            guard let space = line.firstIndex(of: " ") else { throw TestFailure("no value: \(line)") }
            name = line[..<space]
            rest = line[space...]
        }
        guard let value = Double(rest.trimmingCharacters(in: .whitespaces)) else {
            throw TestFailure("bad value in: \(line)")
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else {
            throw TestFailure("bad metric name in: \(line)")
        }
        samples.append(Sample(name: String(name), labels: labels, value: value))
    }
    return samples
}

extension [Sample] {
    /// The value of the sample with this name and exactly these labels, or nil.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { $0.name == name && $0.labels == labels }?.value
    }
}

/// The Prometheus text of a registry.
func exposition(_ registry: PrometheusCollectorRegistry) -> String {
    var buffer: [UInt8] = []
    registry.emit(into: &buffer)
    return String(decoding: buffer, as: UTF8.self)
}

// MARK: - Python HTTP/2 clients

/// A minimal HTTP/2 client on raw frames (hyperframe + hpack), for what the h2
/// library will not do: send invalid frames, and keep reading streams after a
/// GOAWAY. It answers SETTINGS and PING, and returns to flow control what it reads.
let rawHTTP2Prelude = #"""
import socket, struct, sys
from hyperframe.frame import Frame
from hpack import Encoder, Decoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 5: "STREAM_CLOSED",
          6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR"}

def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1

class Client:
    def __init__(self, port, host="127.0.0.1", preface=True):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.encoder, self.decoder = Encoder(), Decoder()
        self.buffer = b""
        self.events = []          # printable lines, in arrival order
        self.status, self.body, self.ended = {}, {}, set()
        self.goaways = []         # (error name, last stream id)
        self.resets = {}          # stream -> error name
        self.eof = False
        self.server_settings = None
        if preface:
            self.send(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        self.sock.sendall(data)

    def headers(self, stream, fields, end_stream=True):
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        self.send(frame(HEADERS, flags, stream, self.encoder.encode(fields)))

    def request(self, stream, method, path, body=b"", extra=()):
        fields = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "test")]
        fields += [("content-length", str(len(body)))] if body else []
        fields += list(extra)
        self.headers(stream, fields, end_stream=not body)
        for i in range(0, len(body), 16384):
            last = i + 16384 >= len(body)
            self.send(frame(DATA, END_STREAM if last else 0, stream, body[i:i + 16384]))

    def read_until(self, done):
        """Reads frames until done(self) is true or the server closes the connection."""
        while not done(self):
            while len(self.buffer) >= 9 and len(self.buffer) >= 9 + int.from_bytes(self.buffer[:3], "big"):
                length = int.from_bytes(self.buffer[:3], "big")
                f, _ = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                f.parse_body(memoryview(self.buffer[9:9 + length]))
                self.buffer = self.buffer[9 + length:]
                self.handle(f)
                if done(self):
                    return
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                self.events.append("EOF")
                return
            self.buffer += data

    def handle(self, f):
        kind = type(f).__name__
        if kind == "SettingsFrame" and "ACK" not in f.flags:
            self.server_settings = dict(f.settings)
            self.send(frame(SETTINGS, ACK, 0))
        elif kind == "PingFrame" and "ACK" not in f.flags:
            self.send(frame(PING, ACK, 0, f.opaque_data))
        elif kind == "HeadersFrame":
            fields = dict(self.decoder.decode(f.data))
            self.status[f.stream_id] = fields[b":status"].decode() if b":status" in fields else fields[":status"]
            self.body.setdefault(f.stream_id, b"")
            if "END_STREAM" in f.flags:
                self.end(f.stream_id)
        elif kind == "DataFrame":
            self.body[f.stream_id] = self.body.get(f.stream_id, b"") + f.data
            if f.flow_controlled_length:
                increment = struct.pack(">I", f.flow_controlled_length)
                self.send(frame(WINDOW_UPDATE, 0, 0, increment) + frame(WINDOW_UPDATE, 0, f.stream_id, increment))
            if "END_STREAM" in f.flags:
                self.end(f.stream_id)
        elif kind == "RstStreamFrame":
            name = ERRORS.get(f.error_code, str(f.error_code))
            self.resets[f.stream_id] = name
            self.events.append(f"RST {f.stream_id} {name}")
        elif kind == "GoAwayFrame":
            name = ERRORS.get(f.error_code, str(f.error_code))
            self.goaways.append((name, f.last_stream_id))
            self.events.append(f"GOAWAY {name} last={f.last_stream_id}")

    def end(self, stream):
        self.ended.add(stream)
        self.events.append(f"RESPONSE {stream} {self.status.get(stream)} {self.body.get(stream, b'').decode(errors='replace')!r}")

"""#
