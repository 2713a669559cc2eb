import ChildProcess
import Foundation
import Glibc
import Greeter
import Logging
import Prometheus
import StatefulFunctions
import StatefunLocks
import StatefunServer
import StatefunService
import Testing

/// An example executable built next to the test bundle (`swift build` builds them all).
func exampleExecutable(_ name: String) -> String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
}

/// A program running in the background, its output going to a file.
final class BackgroundProcess: Sendable {
    private let process: ChildProcess
    let outputPath: String
    private let exit = ExitState()

    private final class ExitState: Sendable {
        let state = Lock<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))
    }

    /// Starts the program (on a thread of its own, never on Swift's two-thread pool).
    static func start(
        _ executable: String, _ arguments: [String], environment: [String: String]
    ) async throws -> BackgroundProcess {
        try await withThreadHandoff { deliver in
            Thread { deliver(Result { try BackgroundProcess(executable, arguments, environment: environment) }) }.start()
        }
    }

    private init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        outputPath = NSTemporaryDirectory() + "statefun-bg-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        defer { try? output.close() }
        let process = try ChildProcess(
            executable, arguments, environment: environment,
            stdout: .descriptor(output.fileDescriptor), stderr: .descriptor(output.fileDescriptor))
        self.process = process
        // A thread waits for the exit and wakes whoever waits on `wait()`.
        Thread { [exit] in
            let status = process.waitUntilExit()
            let waiters = exit.state.withLock { state -> [CheckedContinuation<Int32, Never>] in
                state.status = status
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: status) }
        }.start()
    }

    var pid: Int32 { process.pid }
    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// The exit status, once the program has exited.
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status = exit.state.withLock { state -> Int32? in
                if state.status == nil { state.waiters.append(continuation) }
                return state.status
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: outputPath) }
}

/// Polls `condition` until it holds; fails after two minutes (a hang, not a slow machine).
func eventually(_ what: String, _ condition: () -> Bool) async throws {
    for _ in 0..<12000 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw ServiceTestFailure("timed out waiting for \(what)")
}

struct ServiceTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The TCP port in a start-up line's `addresses=127.0.0.1:PORT`.
func listeningPort(in output: String) -> Int? {
    guard let line = output.split(separator: "\n").first(where: { $0.contains("HTTP server listening") }),
        let range = line.range(of: "addresses=127.0.0.1:")
    else { return nil }
    return Int(line[range.upperBound...].prefix { $0.isNumber })
}

@Suite("Production serving: metrics, lifecycle, dump, Unix sockets, through the service and the example", .serialized)
struct ProductionServiceTests {
    @Test("/metrics parses as Prometheus text, and its counters match the requests sent")
    func metricsMatchTraffic() async throws {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        try Showcase.register(in: functions)
        let registry = PrometheusCollectorRegistry()
        let service = StatefunService(
            functions: functions, protocol: .v2,
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 2),
            logger: Logger(label: "test.metrics") { _ in SwiftLogNoOpLogHandler() }, metrics: registry)
        try service.server.start()
        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/metrics_traffic.py").path
        let (status, output) = try await run(python, [script, "http://127.0.0.1:\(service.server.localPort)"])
        service.server.shutdown()
        await service.server.waitUntilStopped()
        #expect(status == 0, "\(output)")

        struct Sample: Decodable {
            var name: String
            var labels: [String: String]
            var value: Double
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                name = try container.decode(String.self)
                labels = try container.decode([String: String].self)
                value = try container.decode(Double.self)
            }
        }
        let samples = try output.split(separator: "\n").map { try JSONDecoder().decode(Sample.self, from: Data($0.utf8)) }
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        let requests = "http_requests_total"
        #expect(value(requests, ["path": "/statefun", "status": "200", "protocol": "HTTP/1.1"]) == 5)
        #expect(value(requests, ["path": "/statefun", "status": "200", "protocol": "HTTP/2"]) == 4)
        #expect(value(requests, ["path": "/statefun", "status": "400", "protocol": "HTTP/1.1"]) == 2)
        #expect(value(requests, ["path": "/statefun", "status": "404", "protocol": "HTTP/1.1"]) == 1)
        #expect(value(requests, ["path": "/statefun", "status": "500", "protocol": "HTTP/1.1"]) == 3)
        #expect(value("http_request_duration_seconds_count", ["path": "/statefun"]) == 15)
        #expect(value("statefun_invocations_total", ["function_type": "example/greeter"]) == 19)
        #expect(value("statefun_invocations_total", ["function_type": "example/showcase"]) == 3)
        #expect(value("statefun_batch_size_count", ["function_type": "example/greeter"]) == 9)
        #expect(value("statefun_batch_size_sum", ["function_type": "example/greeter"]) == 19)
        #expect(value("statefun_batch_size_bucket", ["function_type": "example/greeter", "le": "2.0"]) == 4)
        #expect(value("statefun_batch_size_bucket", ["function_type": "example/greeter", "le": "5.0"]) == 9)
        #expect(value("statefun_failed_requests_total", ["status": "400"]) == 2)
        #expect(value("statefun_failed_requests_total", ["status": "404"]) == 1)
        #expect(value("statefun_failed_requests_total", ["status": "500"]) == 3)
        #expect(value("http_connections_open", [:]) != nil)
    }

    @Test("SIGTERM during load: every accepted request gets its full, correct response, and the server exits")
    func sigtermUnderLoad() async throws {
        let greeter = exampleExecutable("greeter")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let server = try await BackgroundProcess.start(
            greeter, [],
            environment: [
                "STATEFUN_HOST": "127.0.0.1", "STATEFUN_PORT": "0", "STATEFUN_LOOPS": "2",
                "STATEFUN_ACCESS_LOG": "1", "STATEFUN_SHUTDOWN_GRACE": "60", "LOG_LEVEL": "info",
            ])
        defer { server.remove() }
        try await eventually("the start-up line") { listeningPort(in: server.output) != nil }
        let port = try #require(listeningPort(in: server.output))

        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/load_sigterm.py").path
        let (status, output) = try await run(python, [script, "127.0.0.1", "\(port)", "\(server.pid)"])
        let exitStatus = await server.wait()
        let log = server.output
        #expect(status == 0, "\(output)")
        struct Report: Decodable {
            var ok: Int
            var ok_http1: Int
            var ok_http2: Int
            var not_accepted: Int
            var sigterm_sent: Bool
            var broken: [String]
            var broken_count: Int
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(output.utf8))
        #expect(report.sigterm_sent)
        #expect(report.broken_count == 0, "\(report.broken)")
        #expect(report.ok >= 300)
        #expect(report.ok_http1 > 0 && report.ok_http2 > 0)
        // What the server answered is exactly what the clients received whole.
        let answered = log.split(separator: "\n").filter {
            $0.hasSuffix("[StatefunServer] access") && $0.contains("path=/statefun") && $0.contains("status=200")
        }
        #expect(answered.count == report.ok, "server answered \(answered.count), clients got \(report.ok)")
        #expect(exitStatus == 0, "\(log.suffix(2000))")
        #expect(log.contains("graceful shutdown requested (termination signal received)"))
        #expect(log.contains("HTTP server stopped"))
        #expect(!log.contains("grace period over"))
    }

    @Test("the example's start-up line, /healthz and /metrics, on a Unix socket alone")
    func exampleOnUnixSocket() async throws {
        let greeter = exampleExecutable("greeter")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let socketPath = "/tmp/sf-\(UUID().uuidString.prefix(8)).sock"
        let server = try await BackgroundProcess.start(
            greeter, ["--no-tcp", "--unix-socket", socketPath, "--unix-socket-mode", "600", "--worker-threads", "4"],
            environment: ["LOG_LEVEL": "info"])
        defer { server.remove() }
        try await eventually("the start-up line") { server.output.contains("HTTP server listening") }
        let startup = try #require(server.output.split(separator: "\n").first { $0.contains("HTTP server listening") })
        #expect(startup.contains("addresses=unix:\(socketPath) "))
        #expect(startup.contains("functions=example/greeter, example/showcase "))
        #expect(startup.contains("protocols=HTTP/1.1, HTTP/2 (h2c: prior knowledge, Upgrade) "))
        #expect(startup.contains("handlers=4 worker threads "))
        #expect(startup.contains("statefunPath=/statefun "))
        #expect(startup.contains("metrics=/metrics "))

        func curl(_ arguments: [String]) async throws -> String {
            try await run("/usr/bin/curl", ["-sS", "--unix-socket", socketPath] + arguments).1
        }
        #expect(try await curl(["-w", " %{http_code}", "http://localhost/healthz"]) == "ok\n 200")
        let garbage = try await curl(["--http2-prior-knowledge", "--data-binary", "x", "-w", "\n%{http_code}", "http://localhost/statefun"])
        #expect(garbage.hasPrefix("bad request: the body is not a serialized ToFunction"))
        #expect(garbage.hasSuffix("\n400"))
        let metrics = try await curl(["http://localhost/metrics"])
        #expect(metrics.contains(#"statefun_failed_requests_total{status="400"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"http_requests_total{path="/statefun",status="400",protocol="HTTP/2"} 1"#), "\(metrics)")
        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0)
        #expect(access(socketPath, F_OK) != 0)
    }

    @Test("a failed StateFun request is logged once with its cause, dumped, and replays to the same answer")
    func failedRequestThroughTheService() async throws {
        let directory = NSTemporaryDirectory() + "statefun-dump-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        let store = LineStore()
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 1)
        configuration.failedRequestDump = FailedRequestDumpConfiguration(directory: directory)
        let service = StatefunService(
            functions: functions, protocol: .v2, configuration: configuration,
            logger: Logger(label: "test.dump") { _ in RecordingHandler(store: store) })
        try service.server.start()
        let url = "http://127.0.0.1:\(service.server.localPort)/statefun"
        let (_, answer) = try await run("/usr/bin/curl", ["-sS", "--data-binary", "not a protobuf", "-w", " %{http_code}", url])
        #expect(answer.hasPrefix("bad request: the body is not a serialized ToFunction"))
        #expect(answer.hasSuffix(" 400"))

        let failures = store.lines.filter { $0.contains("request failed") }
        #expect(failures.count == 1, "\(store.lines)")
        #expect(failures.first?.contains("cause=bad request: the body is not a serialized ToFunction") == true)
        #expect(failures.first?.contains("status=400") == true)

        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(files.count == 2)
        let text = try String(contentsOfFile: directory + "/" + (files.first { $0.hasSuffix(".txt") } ?? ""), encoding: .utf8)
        #expect(text.contains("status: 400\n"))
        #expect(text.contains("cause: bad request: the body is not a serialized ToFunction"))
        #expect(try String(contentsOfFile: directory + "/" + files[0], encoding: .utf8) == "not a protobuf")

        // The replay line reproduces the answer.
        let replay = try #require(
            text.split(separator: "\n").first { $0.hasPrefix("replay") }?.split(separator: ": ", maxSplits: 1).last)
        let (_, replayed) = try await run("/bin/sh", ["-c", "cd '\(directory)' && \(replay) -w ' %{http_code}'"])
        service.server.shutdown()
        await service.server.waitUntilStopped()
        #expect(replayed == answer)
    }
}

/// Log lines a ``RecordingHandler`` wrote.
final class LineStore: Sendable {
    private let storage = Lock<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}

/// Records formatted log lines (message and metadata).
struct RecordingHandler: LogHandler {
    let store: LineStore
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        store.append("\(event.level) \(event.message) " + fields.joined(separator: " "))
    }
}
