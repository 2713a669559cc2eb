import Foundation
import Glibc
import Testing

/// One way of starting greeter-v3: with flags, or with the same settings as STATEFUN_* variables.
struct OperatorSettings: Sendable, CustomTestStringConvertible {
    var name: String
    var arguments: [String]
    var environment: [String: String]
    /// Which probes apply (operator_probe.py's mode).
    var probe: String
    /// Fields the start-up line must have.
    var startup: [String]
    var testDescription: String { name }

    static let dump = NSTemporaryDirectory() + "statefun-operator-dump-"

    /// Flags with effects the `served` probe checks; `variables` gives each as its variable.
    static let served: [(flag: String, variable: String, value: String)] = [
        ("--path", "STATEFUN_PATH", "/fn"), ("--health-path", "STATEFUN_HEALTH_PATH", "/ready"),
        ("--metrics-path", "STATEFUN_METRICS_PATH", "/prom"), ("--loops", "STATEFUN_LOOPS", "3"),
        ("--handlers", "STATEFUN_HANDLERS", "pool"), ("--max-body-size", "STATEFUN_MAX_BODY_SIZE", "1000"),
        ("--max-header-size", "STATEFUN_MAX_HEADER_SIZE", "2048"), ("--http2-max-streams", "STATEFUN_HTTP2_MAX_STREAMS", "2"),
        ("--header-timeout", "STATEFUN_HEADER_TIMEOUT", "0.3"), ("--idle-timeout", "STATEFUN_IDLE_TIMEOUT", "0.4"),
        ("--shutdown-delay", "STATEFUN_SHUTDOWN_DELAY", "60"),
    ]
    static let bare: [(flag: String, variable: String, value: String)] = [
        ("--health-path", "STATEFUN_HEALTH_PATH", ""), ("--metrics-path", "STATEFUN_METRICS_PATH", ""),
        ("--worker-threads", "STATEFUN_WORKER_THREADS", "2"), ("--shutdown-grace", "STATEFUN_SHUTDOWN_GRACE", "7"),
        ("--max-body-memory", "STATEFUN_MAX_BODY_MEMORY", "100000"), ("--unix-socket-mode", "STATEFUN_UNIX_SOCKET_MODE", "600"),
    ]
    /// The Unix socket of each `bare` case (beside TCP).
    static let sockets = (flags: "/tmp/sf-op-\(UUID().uuidString.prefix(8)).sock", variables: "/tmp/sf-op-\(UUID().uuidString.prefix(8)).sock")
    static let base = ["STATEFUN_HOST": "127.0.0.1", "STATEFUN_PORT": "0", "STATEFUN_WORKERS": "0", "LOG_LEVEL": "info"]

    static let all: [OperatorSettings] = [
        .init(
            name: "flags: --path, --health-path, --metrics-path, --loops, --handlers, --max-body-size, --max-header-size, --http2-max-streams, --header-timeout, --idle-timeout, --shutdown-delay, --failed-request-dir, --access-log",
            arguments: served.flatMap { [$0.flag, $0.value] } + ["--failed-request-dir", dump + "flags", "--access-log"],
            environment: base, probe: "served",
            startup: ["eventLoops=3", "handlers=cooperative pool", "health=/ready", "metrics=/prom", "statefunPath=/fn",
                      "failedRequestDump=\(dump)flags"]),
        .init(
            name: "the same as STATEFUN_* variables (STATEFUN_FAILED_REQUEST_DIR, STATEFUN_ACCESS_LOG=1 too)",
            arguments: [],
            environment: base.merging(Dictionary(uniqueKeysWithValues: served.map { ($0.variable, $0.value) })) { $1 }
                .merging(["STATEFUN_FAILED_REQUEST_DIR": dump + "variables", "STATEFUN_ACCESS_LOG": "1"]) { $1 },
            probe: "served",
            startup: ["eventLoops=3", "handlers=cooperative pool", "health=/ready", "metrics=/prom", "statefunPath=/fn",
                      "failedRequestDump=\(dump)variables"]),
        .init(
            name: "flags: --no-http2, --health-path '', --metrics-path '', --worker-threads, --shutdown-grace, --max-body-memory, --unix-socket, --unix-socket-mode",
            arguments: bare.flatMap { [$0.flag, $0.value] } + ["--no-http2", "--unix-socket", sockets.flags],
            environment: base, probe: "bare",
            startup: ["protocols=HTTP/1.1 ", "handlers=2 worker threads", ", unix:\(sockets.flags) "]),
        .init(
            name: "the same as STATEFUN_* variables (STATEFUN_HTTP2=0, STATEFUN_UNIX_SOCKET too)",
            arguments: [],
            environment: base.merging(Dictionary(uniqueKeysWithValues: bare.map { ($0.variable, $0.value) })) { $1 }
                .merging(["STATEFUN_HTTP2": "0", "STATEFUN_UNIX_SOCKET": sockets.variables]) { $1 },
            probe: "bare", startup: ["protocols=HTTP/1.1 ", "handlers=2 worker threads", ", unix:\(sockets.variables) "]),
    ]
}

/// Every operator flag and STATEFUN_* variable of the examples, started with it and its
/// effect checked (the settings with independent effects share one process). The rest
/// are pinned elsewhere: --host/--port and STATEFUN_HOST/STATEFUN_PORT by every test that
/// starts an example, --no-tcp by ProductionServiceTests.exampleOnUnixSocket, --workers by
/// CrashContainmentTests, malformed values by OperatorEnvironmentTests.
@Suite("Operator flags and variables, each with its effect", .serialized)
struct OperatorFlagTests {
    @Test(arguments: OperatorSettings.all)
    func settingsTakeEffect(_ settings: OperatorSettings) async throws {
        let greeter = exampleExecutable("greeter-v3")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let dump = settings.startup.first { $0.hasPrefix("failedRequestDump=") }.map { String($0.dropFirst(18)) }
        defer { if let dump { try? FileManager.default.removeItem(atPath: dump) } }
        let server = try await BackgroundProcess.start(greeter, settings.arguments, environment: settings.environment)
        defer { server.remove() }
        try await eventually("the start-up line") { listeningPort(in: server.output) != nil || server.output.contains("Error") }
        let port = try #require(listeningPort(in: server.output), "\(server.output)")
        let startup = try #require(server.output.split(separator: "\n").first { $0.contains("HTTP server listening") })
        for field in settings.startup {
            #expect(startup.contains(field), "\(field) in \(startup)")
        }

        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/operator_probe.py").path
        let (status, output) = try await run(python, [script, "\(port)", settings.probe])
        #expect(status == 0, "\(output)")
        let lines = Set(output.split(separator: "\n").map(String.init))
        func expectLine(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(lines.contains(line), "missing \(line) in \(output)", sourceLocation: sourceLocation)
        }

        if settings.probe == "served" {
            expectLine("statefun at body limit: 400")
            expectLine("statefun past body limit: 413")
            expectLine("default path: 404")
            expectLine("health: (200, 'ok')")
            expectLine("default health: 404")
            expectLine("head at limit: 200")
            expectLine("head past limit: 431")
            expectLine("metrics: (200, True)")
            expectLine("default metrics: 404")
            expectLine("header timeout: request head not received within 0.3 seconds")
            expectLine("idle connection closed: True")
            expectLine("http2 max streams: 2")
            // The 400 at the body limit was dumped, and logged in the access log.
            let dumped = try FileManager.default.contentsOfDirectory(atPath: try #require(dump)).filter { $0.hasSuffix("-400.txt") }
            #expect(dumped.count == 1, "\(dumped)")
            #expect(server.output.contains("[StatefunServer] access"), "\(server.output.suffix(2000))")
            // SIGTERM: not ready at once, yet still serving through the 60 s shutdown delay.
            kill(server.pid, SIGTERM)
            try await eventually("the shutdown delay's notice") { server.output.contains("after the shutdown delay") }
            #expect(server.output.contains("delay=60.0 seconds"), "\(server.output.suffix(2000))")
            let (_, during) = try await run(python, ["-c", #"""
                import socket, sys
                for path in ("/ready", "/fn"):
                    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
                    s.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx" % path.encode()
                              if path == "/fn" else b"GET /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    print(path, s.recv(65536).split(b" ")[1].decode())
                """#, "\(port)"])
            #expect(during == "/ready 503\n/fn 400\n", "\(during)")
            kill(server.pid, SIGKILL)
            _ = await server.wait()
        } else {
            expectLine("health: 404")
            expectLine("metrics: 404")
            expectLine("statefun: 400")
            expectLine("h2c preface: HTTP/1.1 505 HTTP Version Not Supported")
            expectLine("beyond body memory: 413 request body of 200000 bytes exceeds the server's body memory of 100000 bytes")
            let socket = try #require(settings.startup.first { $0.hasPrefix(", unix:") }).dropFirst(7).dropLast()
            var info = stat()
            #expect(stat(String(socket), &info) == 0 && info.st_mode & 0o777 == 0o600, "\(socket): mode \(String(info.st_mode & 0o777, radix: 8))")
            kill(server.pid, SIGTERM)
            #expect(await server.wait() == 0)
            #expect(access(String(socket), F_OK) != 0, "the socket file is removed at shutdown")
            let shuttingDown = server.output.split(separator: "\n").first { $0.hasSuffix("HTTP server shutting down") }
            #expect(shuttingDown?.contains("gracePeriod=7.0 seconds") == true, "\(server.output.suffix(2000))")
        }
    }
}

/// The variable forms of the two settings the table above leaves to other suites'
/// flag forms: `STATEFUN_TCP=0` (`--no-tcp`) and `STATEFUN_WORKERS` (`--workers`).
@Suite("STATEFUN_TCP and STATEFUN_WORKERS, each with its effect")
struct OperatorVariableTests {
    @Test("STATEFUN_TCP=0 with STATEFUN_UNIX_SOCKET listens on the socket alone")
    func noTCP() async throws {
        let greeter = exampleExecutable("greeter-v3")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let socketPath = "/tmp/sf-notcp-\(UUID().uuidString.prefix(8)).sock"
        let server = try await BackgroundProcess.start(
            greeter, [],
            environment: ["STATEFUN_TCP": "0", "STATEFUN_UNIX_SOCKET": socketPath, "STATEFUN_WORKERS": "0", "LOG_LEVEL": "info"])
        defer { server.remove() }
        try await eventually("the start-up line") { server.output.contains("HTTP server listening") || server.output.contains("Error") }
        let startup = try #require(server.output.split(separator: "\n").first { $0.contains("HTTP server listening") }, "\(server.output)")
        // The socket is the only address: no TCP listener beside it.
        #expect(startup.contains("addresses=unix:\(socketPath) "), "\(startup)")
        #expect(listeningPort(in: server.output) == nil, "\(startup)")
        let (_, answer) = try await run("/usr/bin/curl", ["-sS", "--unix-socket", socketPath, "-w", " %{http_code}", "http://localhost/healthz"])
        #expect(answer == "ok\n 200")
        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0)
    }

    @Test("STATEFUN_WORKERS=2 serves through a supervisor and two worker processes; 0 serves in the process alone",
          arguments: [2, 0])
    func workers(_ count: Int) async throws {
        let greeter = exampleExecutable("greeter-v3")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let server = try await BackgroundProcess.start(
            greeter, [],
            environment: ["STATEFUN_HOST": "127.0.0.1", "STATEFUN_PORT": "0", "STATEFUN_WORKERS": "\(count)",
                          "STATEFUN_LOOPS": "1", "LOG_LEVEL": "info"])
        defer { server.remove() }
        let serving = max(count, 1)
        try await eventually("\(serving) servers listening") {
            server.output.split(separator: "\n").filter { $0.contains("HTTP server listening") }.count == serving
                || server.output.contains("Error")
        }
        let output = server.output
        #expect(output.split(separator: "\n").filter { $0.contains("HTTP server listening") }.count == serving, "\(output)")
        #expect(output.contains("supervisor listening; starting workers") == (count > 0), "\(output)")
        if count > 0 { #expect(output.contains("workers=\(count)"), "\(output)") }
        let port = try #require(listeningPort(in: output), "\(output)")
        let (_, answer) = try await run("/usr/bin/curl", ["-sS", "-w", " %{http_code}", "http://127.0.0.1:\(port)/healthz"])
        #expect(answer == "ok\n 200")
        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0)
    }
}
