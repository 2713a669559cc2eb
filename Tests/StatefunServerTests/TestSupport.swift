import ChildProcess
import Foundation
import Glibc
import Logging
import StatefunLocks
import StatefunServer
import Testing

// MARK: - Logging

/// Log entries recorded by ``RecordingLogHandler``.
final class LogStore: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let entries = Lock<[Entry]>([])

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    var all: [Entry] { entries.withLock { $0 } }

    /// The rejection log lines (status + cause) the server wrote.
    var rejections: [Entry] { all.filter { $0.message == "rejected request" } }
}

struct RecordingLogHandler: LogHandler {
    let store: LogStore
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            flat[key] = "\(value)"
        }
        store.append(.init(level: event.level, message: "\(event.message)", metadata: flat))
    }
}

// MARK: - Test server

/// Signals between a route handler and a test.
final class Gate: Sendable {
    private struct State {
        var open = false
        /// Resumed with `true` when the gate opens, `false` when the wait ends without it.
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        /// Waits ended before their waiter was registered.
        var givenUp: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }
    private let state = Lock(State())

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.open = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    private func newWaiter() -> UInt64 {
        state.withLock { s in
            s.nextWaiter += 1
            return s.nextWaiter
        }
    }

    /// Ends wait `id` without the gate (its time ran out, or its task was cancelled).
    private func giveUp(_ id: UInt64) {
        state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let waiter = s.waiters.removeValue(forKey: id) else {
                s.givenUp.insert(id)
                return nil
            }
            return waiter
        }?.resume(returning: false)
    }

    /// Whether the gate opened before wait `id` was given up. The opening
    /// resumes the waiting task directly.
    private func waitForOpening(_ id: UInt64) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { s -> Bool? in
                    if s.open { return true }
                    if s.givenUp.remove(id) != nil { return false }
                    s.waiters[id] = c
                    return nil
                }
                if let answer { c.resume(returning: answer) }
            }
        } onCancel: {
            giveUp(id)
        }
    }

    /// Returns once the gate is open, or the task is cancelled.
    func wait() async {
        _ = await waitForOpening(newWaiter())
    }

    struct NotOpened: Error, CustomStringConvertible {
        let timeout: Duration
        var description: String { "the gate did not open within \(timeout) (did the test's client start?)" }
    }

    /// ``wait()`` for a test: a test waiting for a request that never comes (its
    /// client failed to start) fails after `timeout` rather than hanging the run.
    func opened(within timeout: Duration = .seconds(60)) async throws {
        let id = newWaiter()
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.giveUp(id)
        }
        defer { timer.cancel() }
        guard await waitForOpening(id) else { throw NotOpened(timeout: timeout) }
    }
}

/// Hooks the slow routes use.
struct TestHooks: Sendable {
    /// Opened when /slow or /hang starts handling a request.
    let handlerStarted = Gate()
    /// /hang waits for this.
    let releaseHang = Gate()
}

func testRoutes(_ hooks: TestHooks) -> [Route] {
    [
        Route(path: "/echo") { request in
            ServerResponse(
                status: 200,
                headers: [(name: "Content-Type", value: "application/octet-stream")],
                body: request.body)
        },
        Route(path: "/hello", methods: ["GET", "HEAD", "POST"]) { _ in
            .text(200, "hello")
        },
        Route(path: "/info", methods: ["GET"]) { request in
            var lines = ["method=\(request.method)", "path=\(request.path)", "query=\(request.query ?? "<nil>")",
                         "version=\(request.version)"]
            for (name, value) in request.headers { lines.append("\(name)=\(value)") }
            lines.append("host=\(request.headers["HOST"] ?? "<nil>")")
            return .text(200, lines.joined(separator: "\n"))
        },
        Route(path: "/large", methods: ["GET"]) { request in
            let size = Int(request.query?.split(separator: "=").last ?? "0") ?? 0
            return ServerResponse(status: 200, headers: [(name: "Content-Type", value: "application/octet-stream")],
                                  body: patternBytes(size))
        },
        Route(path: "/slow") { request in
            hooks.handlerStarted.open()
            try? await Task.sleep(for: .milliseconds(500))
            return .text(200, "slow done: \(request.body.count) bytes")
        },
        Route(path: "/hang") { _ in
            hooks.handlerStarted.open()
            await hooks.releaseHang.wait()
            return .text(200, "released")
        },
        Route(path: "/evil", methods: ["GET"]) { _ in
            ServerResponse(status: 200, headers: [
                (name: "X-Good", value: "yes"),
                (name: "X-Evil", value: "a\r\nInjected: yes"),
                (name: "Bad Name", value: "x"),
            ], body: Array("ok".utf8))
        },
        Route(path: "/empty", methods: ["GET"]) { _ in ServerResponse(status: 204) },
        // Header arrays shared by every response of a route (as StatefunService's are).
        Route(path: "/shared", methods: ["GET"]) { _ in
            ServerResponse(status: 200, headers: sharedHeaders, body: Array("shared".utf8))
        },
        Route(path: "/shared-evil", methods: ["GET"]) { _ in
            ServerResponse(status: 200, headers: sharedEvilHeaders, body: Array("evil".utf8))
        },
        Route(path: "/shared-close", methods: ["GET"]) { _ in
            ServerResponse(status: 200, headers: sharedCloseHeaders, body: Array("bye".utf8))
        },
        Route(path: "/close", methods: ["GET"]) { _ in
            ServerResponse(status: 200, headers: [(name: "Connection", value: "close")], body: Array("bye".utf8))
        },
    ]
}

let sharedHeaders = [(name: "Content-Type", value: "text/x-shared"), (name: "X-Shared", value: "1")]
let sharedEvilHeaders = [(name: "X-Evil", value: "a\r\nInjected: yes"), (name: "X-Good", value: "yes")]
let sharedCloseHeaders = [(name: "X-Shared", value: "2"), (name: "Connection", value: "keep-alive, close")]

/// Deterministic test bytes.
func patternBytes(_ count: Int, seed: UInt32 = 1) -> [UInt8] {
    var state: UInt32 = seed &* 2_654_435_761 | 1
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        for i in 0..<count {
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            buffer[i] = UInt8(truncatingIfNeeded: state)
        }
        initialized = count
    }
}

/// A running server on 127.0.0.1 with the test routes, plus its log.
struct TestServer: Sendable {
    let server: HTTPServer
    let hooks: TestHooks
    let logs: LogStore
    var port: Int { server.localPort }
    var base: String { "http://127.0.0.1:\(port)" }

    static func start(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 2)
        configure(&configuration)
        let hooks = TestHooks()
        let logs = LogStore()
        let logger = Logger(label: "test.server") { _ in RecordingLogHandler(store: logs) }
        let server = HTTPServer(configuration: configuration, routes: testRoutes(hooks), logger: logger)
        try server.start()
        return TestServer(server: server, hooks: hooks, logs: logs)
    }

    func stop() async {
        hooks.releaseHang.open()
        server.shutdown()
        await server.waitUntilStopped()
    }
}

/// Starts a test server, runs `body`, and always stops the server.
func withTestServer(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (TestServer) async throws -> Void
) async throws {
    let server = try TestServer.start(configure)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

// MARK: - Running processes (curl)

struct ProcessResult: Sendable {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var stdoutString: String { String(decoding: stdout, as: UTF8.self) }
}

struct TemporaryFile: Sendable {
    let path: String

    init(contents: [UInt8] = []) throws {
        path = NSTemporaryDirectory() + "statefun-server-test-" + UUID().uuidString
        guard FileManager.default.createFile(atPath: path, contents: Data(contents)) else {
            throw TestFailure("cannot create \(path)")
        }
    }

    func read() throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion without blocking a cooperative thread;
/// output goes through files so large outputs cannot fill a pipe.
func runProcess(_ executable: String, _ arguments: [String]) async throws -> ProcessResult {
    let out = try TemporaryFile()
    let err = try TemporaryFile()
    defer {
        out.remove()
        err.remove()
    }
    let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out.path))
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err.path))
    let (stdout, stderr) = (outHandle.fileDescriptor, errHandle.fileDescriptor)
    // Waiting blocks: on a thread of its own, never on the cooperative pool,
    // which the server's handler tasks that the program talks to need.
    let status: Int32 = try await withThreadHandoff { deliver in
        Thread {
            deliver(Result {
                try ChildProcess(executable, arguments, stdout: .descriptor(stdout), stderr: .descriptor(stderr))
                    .waitUntilExit()
            })
        }.start()
    }
    try outHandle.close()
    try errHandle.close()
    return ProcessResult(status: status, stdout: try out.read(), stderr: String(decoding: try err.read(), as: UTF8.self))
}

struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Runs curl with a hang-detection time limit.
func curl(_ arguments: [String]) async throws -> ProcessResult {
    try await runProcess("/usr/bin/curl", ["--silent", "--show-error", "--max-time", "120"] + arguments)
}

// MARK: - Raw sockets

/// Runs blocking work on its own thread, keeping Swift's small cooperative pool
/// free for the server's handler tasks.
func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withThreadHandoff { deliver in
        Thread { deliver(Result { try body() }) }.start()
    }
}

struct RawResponse: Sendable, CustomStringConvertible {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    subscript(header name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var bodyString: String { String(decoding: body, as: UTF8.self) }
    var description: String { "\(status) \(headers) \(bodyString)" }
}

/// How long a test's blocking read waits before it calls the server hung:
/// 30 s, or `STATEFUN_TEST_HANG_SECONDS` (scripts/test-sanitizer.sh gives 120:
/// under ThreadSanitizer a handler's task can wait long behind the hundreds of
/// test tasks that start together on Swift's two-thread pool).
let hangSeconds = ProcessInfo.processInfo.environment["STATEFUN_TEST_HANG_SECONDS"].flatMap(Int.init) ?? 30

/// A blocking TCP client for sending arbitrary bytes. Reads time out after
/// ``hangSeconds`` so a hung server fails the test instead of hanging it.
final class RawConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        // A local until connected: a class init that throws once every property is set still
        // runs deinit, which would close the descriptor a second time (by then maybe another
        // thread's: a subprocess's pipe).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var timeout = timeval(tv_sec: hangSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw TestFailure("connect: errno \(e)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes; false on EOF or reset.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        if n == 0 { return false }
        let e = errno
        if e == ECONNRESET { return false }
        throw TestFailure(e == EAGAIN ? "read timed out (server hung?)" : "recv failed: errno \(e)")
    }

    /// Reads one response (Content-Length framed). nil if the connection closed first.
    func readResponse(headRequest: Bool = false) throws -> RawResponse? {
        var headEnd: Int?
        while true {
            if let r = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                headEnd = r.upperBound
                break
            }
            if try !fill() {
                if buffer.isEmpty { return nil }
                throw TestFailure("connection closed mid-head: \(String(decoding: buffer, as: UTF8.self))")
            }
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw TestFailure("bad status line: \(statusLine)")
        }
        let headers = lines.map { line -> (name: String, value: String) in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        buffer.removeFirst(headEnd!)
        var response = RawResponse(status: status, headers: headers, body: [])
        if status == 100 { return response }
        let length = headRequest ? 0 : Int(response[header: "Content-Length"] ?? "0") ?? 0
        while buffer.count < length {
            if try !fill() { throw TestFailure("connection closed mid-body") }
        }
        response.body = Array(buffer[..<length])
        buffer.removeFirst(length)
        return response
    }

    /// Everything the server sends from here until it closes the connection (EOF or reset).
    func readUntilClosed() throws -> [UInt8] {
        while try fill() {}
        defer { buffer = [] }
        return buffer
    }

    /// True if the server closes the connection (EOF or reset) without sending more.
    func readsEOF() throws -> Bool {
        if !buffer.isEmpty { return false }
        return try !fill() && buffer.isEmpty
    }
}

/// Sends `request` on a fresh connection and reads one response. When the
/// response says `Connection: close` (or none came), also reports whether the
/// server then really closed; otherwise `closed` is false.
func rawExchange(port: Int, _ request: [UInt8]) async throws -> (response: RawResponse?, closed: Bool) {
    try await offloaded {
        let connection = try RawConnection(port: port)
        try connection.send(request)
        guard let response = try connection.readResponse() else { return (nil, true) }
        guard response[header: "Connection"] == "close" else { return (response, false) }
        return (response, try connection.readsEOF())
    }
}

/// Asserts the server answers a normal request correctly on a new connection.
func expectServerHealthy(_ server: TestServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let payload = "still alive \(UUID().uuidString)"
    let (response, _) = try await rawExchange(
        port: server.port,
        Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(payload.utf8.count)\r\nConnection: close\r\n\r\n\(payload)".utf8))
    #expect(response?.status == 200, sourceLocation: sourceLocation)
    #expect(response?.bodyString == payload, sourceLocation: sourceLocation)
}
