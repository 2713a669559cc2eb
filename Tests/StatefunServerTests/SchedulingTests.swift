import Foundation
import Logging
import StatefunServer
import Testing

/// A gate that blocks *threads* (not tasks): what a synchronous function that
/// blocks does to the thread it runs on.
final class ThreadGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpenValue = false
    private var blocked = 0

    /// Blocks the calling thread until ``open()``.
    func block() {
        condition.lock()
        blocked += 1
        while !isOpenValue { condition.wait() }
        condition.unlock()
    }

    func open() {
        condition.lock()
        isOpenValue = true
        condition.broadcast()
        condition.unlock()
    }

    /// Whether ``open()`` was called.
    var isOpen: Bool {
        condition.lock()
        defer { condition.unlock() }
        return isOpenValue
    }

    /// How many threads have come to ``block()``.
    var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return blocked
    }
}

@Suite("Scheduling: where handlers run")
struct SchedulingTests {
    /// More handlers that block their thread than Swift's cooperative pool has threads.
    static let blockers = ProcessInfo.processInfo.activeProcessorCount + 1

    @Test("with worker threads, handlers that block their thread do not stop other requests")
    func blockingHandlersOnWorkerThreads() async throws {
        let gate = ThreadGate()
        let blocking = Route(path: "/block") { _ in
            gate.block()
            return .text(200, "unblocked")
        }
        let logs = LogStore()
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(
                host: "127.0.0.1", port: 0, eventLoopCount: 2, handlerExecution: .workerThreads(Self.blockers + 2)),
            routes: testRoutes(TestHooks()) + productionRoutes(TestHooks()) + [blocking],
            logger: Logger(label: "test.scheduling") { _ in RecordingLogHandler(store: logs) })
        try server.start()
        // If the blocked handlers held the cooperative pool, nothing below could run: a watchdog
        // thread opens the gate after a minute so that such a failure ends instead of hanging.
        Thread {
            Thread.sleep(forTimeInterval: 60)
            gate.open()
        }.start()

        async let blocked = withThrowingTaskGroup(of: ProcessResult.self) { group in
            for _ in 0..<Self.blockers {
                group.addTask { try await curl(["-X", "POST", "http://127.0.0.1:\(server.localPort)/block"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await waitUntil("all blocking handlers running") { gate.waiting == Self.blockers }
        // Every blocker holds a thread now; the server still answers, handler and all.
        let echo = try await curl(["--data-binary", "meanwhile", "http://127.0.0.1:\(server.localPort)/echo"])
        // Answered while every blocker still held its thread (not after the watchdog let them go).
        let stillBlocked = !gate.isOpen
        gate.open()
        #expect(echo.stdoutString == "meanwhile")
        #expect(stillBlocked)
        for result in try await blocked { #expect(result.stdoutString == "unblocked") }
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("handlers run on the worker threads when configured, on Swift's pool by default")
    func handlerThreads() async throws {
        try await withProductionServer({ $0.handlerExecution = .workerThreads(3) }) { server in
            for _ in 0..<5 {
                let name = try await curl(["http://127.0.0.1:\(server.port)/thread"]).stdoutString
                #expect(name.hasPrefix("http-worker-"), "ran on \(name)")
            }
        }
        try await withProductionServer { server in
            let name = try await curl(["http://127.0.0.1:\(server.port)/thread"]).stdoutString
            #expect(!name.hasPrefix("http-worker-") && !name.hasPrefix("http-loop-"), "ran on \(name)")
        }
    }

    @Test("with .eventLoop, handlers run on the loop that read the request, and one that awaits does not stall its loop")
    func eventLoopExecution() async throws {
        try await withProductionServer({
            $0.handlerExecution = .eventLoop
            $0.eventLoopCount = 1
        }) { server in
            for _ in 0..<5 {
                let name = try await curl(["http://127.0.0.1:\(server.port)/thread"]).stdoutString
                #expect(name == "http-loop-0", "ran on \(name)")
            }
            // The hanging handler awaits on the only loop; another connection is still served,
            // and the hanging one resumes there once released.
            async let slow = curl(["-X", "POST", server.base + "/hang"])
            try await server.hooks.handlerStarted.opened()
            let fast = try await curl(["--data-binary", "fast", server.base + "/echo"])
            #expect(fast.stdoutString == "fast")
            server.hooks.releaseHang.open()
            #expect(try await slow.stdoutString == "released")
        }
    }

    @Test("with .eventLoop, a synchronous handler answers on the loop without a task, over HTTP/1.1 and HTTP/2 (failures still dumped); other executions run it as a task")
    func synchronousHandlers() async throws {
        let directory = NSTemporaryDirectory() + "statefun-sync-dump-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withProductionServer({
            $0.handlerExecution = .eventLoop
            $0.eventLoopCount = 1
            $0.failedRequestDump = FailedRequestDumpConfiguration(directory: directory)
        }) { server in
            for _ in 0..<3 {
                #expect(try await curl([server.base + "/sync"]).stdoutString == "task=false thread=http-loop-0")
            }
            // HTTP/2 streams too, answered once nghttp2 has read them (three streams on one connection).
            let h2 = try await curl(["--http2-prior-knowledge", server.base + "/sync"])
            #expect(h2.stdoutString == "task=false thread=http-loop-0", "\(h2.stderr)")
            let streams = try await runProcess(
                "/usr/bin/nghttp", [server.base + "/sync?a", server.base + "/sync?b", server.base + "/sync?c"])
            #expect(streams.stdoutString == String(repeating: "task=false thread=http-loop-0", count: 3), "\(streams.stderr)")
            let failed = try await curl(["-w", "%{http_code}", "--data-binary", "input", server.base + "/sync?500"])
            #expect(failed.stdoutString == "failed on purpose\n500")
            let files = try FileManager.default.contentsOfDirectory(atPath: directory)
            let meta = try #require(files.first { $0.hasSuffix("-500.txt") }, "\(files)")
            let text = try String(contentsOfFile: directory + "/" + meta, encoding: .utf8)
            #expect(text.contains("cause: the test asked for 500"), "\(text)")
            #expect(server.logs.all.filter { $0.message == "request failed" }.count == 1)
        }
        try await withProductionServer { server in
            let answer = try await curl([server.base + "/sync"]).stdoutString
            #expect(answer.hasPrefix("task=true "), "\(answer)")
        }
    }

    @Test("a slow async handler on one connection does not delay another connection")
    func slowConnection() async throws {
        try await withProductionServer { server in
            async let slow = curl(["-X", "POST", server.base + "/hang"])
            try await server.hooks.handlerStarted.opened()
            let fast = try await curl(["--data-binary", "fast", server.base + "/echo"])
            #expect(fast.stdoutString == "fast")
            server.hooks.releaseHang.open()
            #expect(try await slow.stdoutString == "released")
        }
    }
}
