import Foundation
import Glibc
import Testing

/// The supervised example (`statefun-crash-test`: the greeter plus `test/poison`,
/// which traps on one message) on an ephemeral loopback port.
private func startSupervised(_ arguments: [String], environment: [String: String] = [:]) async throws -> BackgroundProcess {
    let executable = exampleExecutable("statefun-crash-test")
    try #require(FileManager.default.isExecutableFile(atPath: executable), "build the examples first: swift build")
    return try await BackgroundProcess.start(
        executable, ["--host", "127.0.0.1", "--port", "0", "--loops", "2"] + arguments,
        environment: ["LOG_LEVEL": "info"].merging(environment) { $1 })
}

private struct Report: Decodable {
    struct Thread: Decodable {
        var ok_before: Int
        var ok_after: Int
        var failed: Int
        var other: Int
    }
    var poison: String
    var outage_seconds: Double?
    var since_sent_seconds: Double?
    var threads: [Thread]
}

private func isZombie(_ pid: Int32) -> Bool {
    ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "").contains(") Z ")
}

private func lines(_ log: String, containing text: String) -> [Substring] {
    log.split(separator: "\n").filter { $0.contains(text) }
}

@Suite("Crash containment: a supervisor replaces a worker that traps", .serialized)
struct CrashContainmentTests {
    @Test("a trapping function kills one worker: the endpoint answers again at once, the death is logged, traffic goes on",
          arguments: [1, 2])
    func poisonMessage(workers: Int) async throws {
        let server = try await startSupervised(["--workers", "\(workers)"])
        defer { server.remove() }
        try await eventually("\(workers) workers serving") {
            lines(server.output, containing: "HTTP server listening").count == workers
        }
        let port = try #require(listeningPort(in: server.output))

        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/crash_containment.py").path
        let (status, output) = try await run(python, [script, "http://127.0.0.1:\(port)/statefun"])
        try #require(status == 0, "\(output)")
        let report = try JSONDecoder().decode(Report.self, from: Data(output.utf8))

        // The worker died without answering: the connection was cut.
        #expect(report.poison.hasPrefix("connection error"), "\(report.poison)")
        let outage = try #require(report.outage_seconds, "the endpoint never answered again")
        let sinceSent = report.since_sent_seconds ?? 0
        print("crash containment (\(workers) worker(s)): a new connection was answered \(Int(outage * 1000)) ms after the poison request failed, \(Int(sinceSent * 1000)) ms after it was sent")
        #expect(outage < 10)
        // Every connection's traffic goes on (a connection of the dead worker after one retry).
        for thread in report.threads {
            #expect(thread.ok_after > 0, "\(report.threads)")
            #expect(thread.other == 0, "\(report.threads)")
            #expect(thread.failed <= 2, "\(report.threads)")
        }

        // The supervisor replaced the worker and said why it died, and on what.
        try await eventually("the replacement worker") {
            lines(server.output, containing: "HTTP server listening").count == workers + 1
        }
        let log = server.output
        let death = try #require(lines(log, containing: "worker was killed by signal SIG").first, "\(log.suffix(3000))")
        #expect(death.contains("SIGILL") || death.contains("SIGTRAP"), "\(death)")
        #expect(death.contains("restarting it now"), "\(death)")
        #expect(death.contains("request=POST /statefun ("), "\(death)")
        #expect(death.contains("function=test/poison id=p1 (1 invocation)"), "\(death)")
        // The worker's own line, from its crash handler.
        #expect(lines(log, containing: "statefun: fatal signal").first?.contains("while handling POST /statefun") == true, "\(log.suffix(3000))")
        #expect(lines(log, containing: "worker started").count == workers + 1)

        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0, "\(server.output.suffix(3000))")
    }

    @Test("with a dump directory, the batch a worker died on is on disk with its replay command, which replays the crash",
          arguments: [
              ([], []),  // a synchronous handler on the event loop
              (["--worker-threads", "2"], []),  // a handler task on a worker thread
              ([], ["--http2-prior-knowledge"]),  // an HTTP/2 stream: a handler task on the loop's executor
          ] as [([String], [String])])
    func poisonBatchIsDumped(serverArguments: [String], curlArguments: [String]) async throws {
        let directory = NSTemporaryDirectory() + "statefun-crash-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await startSupervised(["--workers", "1", "--failed-request-dir", directory] + serverArguments)
        defer { server.remove() }
        try await eventually("the worker serving") { !lines(server.output, containing: "HTTP server listening").isEmpty }
        let port = try #require(listeningPort(in: server.output))

        let bodyPath = directory + "-poison.bin"
        defer { unlink(bodyPath) }
        let (written, pythonOutput) = try await run(python, ["-c", """
            import sys; sys.path.insert(0, '\(repositoryRoot.path)/Tests/StatefunServiceTests/Python')
            from conformance import request; from greeter_pb2 import GreetRequest
            open('\(bodyPath)', 'wb').write(request('test/poison/p1', [], [(None, GreetRequest(name='poison'))]))
            """])
        try #require(written == 0, "\(pythonOutput)")
        let sent = try Data(contentsOf: URL(fileURLWithPath: bodyPath))
        let (curlStatus, curlOutput) = try await run(
            "/usr/bin/curl", ["-sS"] + curlArguments + ["--data-binary", "@" + bodyPath, "http://127.0.0.1:\(port)/statefun"])
        #expect(curlStatus != 0, "curl: no answer (the worker died): \(curlOutput)")

        try await eventually("the dump") {
            (try? FileManager.default.contentsOfDirectory(atPath: directory))?.contains { $0.hasSuffix(".txt") } == true
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let text = try #require(files.first { $0.hasSuffix(".txt") })
        let name = String(text.dropLast(4))
        #expect(name.contains("-crash-"), "\(files)")
        let body = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name + ".body"))
        #expect(body == sent)
        let description = try String(contentsOfFile: directory + "/" + text, encoding: .utf8)
        #expect(description.contains("status: crash\n"), "\(description)")
        #expect(description.contains("cause: the process was killed by SIG"), "\(description)")
        #expect(description.contains("method: POST\npath: /statefun\n"), "\(description)")
        #expect(description.contains("body: \(name).body (\(sent.count) bytes)\n"), "\(description)")
        let replay = try #require(
            description.split(separator: "\n").first { $0.hasPrefix("replay (from this directory): ") })
            .dropFirst("replay (from this directory): ".count)
        #expect(replay == "curl -sS -X POST --data-binary @\(name).body http://127.0.0.1:\(port)/statefun", "\(replay)")

        // The supervisor's line names the dump.
        try await eventually("the death line") { !lines(server.output, containing: "worker was killed").isEmpty }
        let death = try #require(lines(server.output, containing: "worker was killed").first)
        #expect(death.contains("dump=\(directory)/\(name).body"), "\(death)")

        // The replay command, run from the directory, kills the replacement the same way.
        try await eventually("the replacement worker") {
            lines(server.output, containing: "HTTP server listening").count == 2
        }
        let (replayStatus, _) = try await run("/bin/sh", ["-c", "cd '\(directory)' && " + replay])
        #expect(replayStatus == 52)
        try await eventually("the second death") { lines(server.output, containing: "worker was killed").count == 2 }

        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0, "\(server.output.suffix(3000))")
    }

    @Test("SIGTERM to the supervisor drains the workers and exits 0; the Unix socket file is removed")
    func sigtermStopsEverything() async throws {
        let socketPath = "/tmp/sf-\(UUID().uuidString.prefix(8)).sock"
        let server = try await startSupervised(["--workers", "2", "--unix-socket", socketPath])
        defer { server.remove() }
        try await eventually("2 workers serving") { lines(server.output, containing: "HTTP server listening").count == 2 }
        let port = try #require(listeningPort(in: server.output))
        #expect(try await run("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(port)/healthz"]).1 == "ok\n")
        #expect(try await run("/usr/bin/curl", ["-sS", "--unix-socket", socketPath, "http://localhost/healthz"]).1 == "ok\n")
        let workerPIDs = lines(server.output, containing: "worker started").compactMap { line in
            line.range(of: "pid=").flatMap { Int32(line[$0.upperBound...].prefix { $0.isNumber }) }
        }
        #expect(workerPIDs.count == 2)

        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0, "\(server.output.suffix(3000))")
        let log = server.output
        #expect(lines(log, containing: "graceful shutdown requested").count == 2, "\(log.suffix(3000))")
        #expect(lines(log, containing: "HTTP server stopped").count == 2)
        #expect(log.contains("supervisor stopped"))
        for pid in workerPIDs { #expect(kill(pid, 0) != 0, "worker \(pid) still runs") }
        #expect(access(socketPath, F_OK) != 0)
        #expect(try await run("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(port)/healthz"]).0 != 0)
    }

    @Test("a worker goes when its supervisor is killed (SIGKILL)")
    func workersFollowTheSupervisor() async throws {
        let server = try await startSupervised(["--workers", "1"])
        defer { server.remove() }
        try await eventually("the worker serving") { !lines(server.output, containing: "HTTP server listening").isEmpty }
        let line = try #require(lines(server.output, containing: "worker started").first)
        let pid = try #require(line.range(of: "pid=").flatMap { Int32(line[$0.upperBound...].prefix { $0.isNumber }) })
        kill(server.pid, SIGKILL)
        _ = await server.wait()
        // Orphaned, it is reaped by init (or the nearest subreaper) once it has drained.
        try await eventually("the worker's exit") { kill(pid, 0) != 0 || isZombie(pid) }
    }

    @Test("a worker that fails at start-up is restarted with a growing back-off, then the supervisor gives up")
    func startupFailuresStop() async throws {
        // The dump directory cannot be made: the worker's server does not start (exit 1).
        let server = try await startSupervised(["--workers", "1", "--failed-request-dir", "/proc/statefun-no"])
        defer { server.remove() }
        let status = await server.wait()
        let log = server.output
        #expect(status == 1, "\(log.suffix(3000))")
        #expect(lines(log, containing: "worker started").count == 5, "\(log.suffix(3000))")
        #expect(lines(log, containing: "worker exited with status 1 before serving").count == 5)
        #expect(lines(log, containing: "before serving; restarting it now").count == 1, "\(log.suffix(3000))")
        for delay in ["100 ms", "200 ms", "400 ms"] {
            #expect(log.contains("restarting it in \(delay)"), "\(log.suffix(3000))")
        }
        #expect(log.contains("5 times in a row; not restarting it"))
    }

    @Test("--workers 0 serves in one process: the trap ends it")
    func unsupervisedDies() async throws {
        let server = try await startSupervised(["--workers", "0"])
        defer { server.remove() }
        try await eventually("the server") { !lines(server.output, containing: "HTTP server listening").isEmpty }
        #expect(!server.output.contains("supervisor"))
        let port = try #require(listeningPort(in: server.output))
        let (_, output) = try await run(python, ["-c", """
            import sys, requests; sys.path.insert(0, '\(repositoryRoot.path)/Tests/StatefunServiceTests/Python')
            from conformance import request; from greeter_pb2 import GreetRequest
            body = request('test/poison/p1', [], [(None, GreetRequest(name='poison'))])
            try: requests.post('http://127.0.0.1:\(port)/statefun', data=body, timeout=30); print('answered')
            except requests.RequestException: print('cut')
            """])
        #expect(output.contains("cut"), "\(output)")
        let status = await server.wait()
        #expect(status != 0)
    }
}
