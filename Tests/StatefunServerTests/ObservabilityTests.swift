import Foundation
import Logging
import Prometheus
import StatefunServer
import Testing

@Suite("Observability: logs, health, metrics, failed-request dump", .serialized)
struct ObservabilityTests {
    @Test("the start-up line names the addresses, protocols, handlers and the embedder's fields")
    func startupLine() async throws {
        let path = temporarySocketPath()
        try await withProductionServer({
            $0.unixSocketPath = path
            $0.handlerExecution = .workerThreads(2)
        }) { server in
            let lines = server.logs.all.filter { $0.message == "HTTP server listening" }
            #expect(lines.count == 1)
            let line = try #require(lines.first)
            #expect(line.level == .info)
            #expect(line.metadata["addresses"] == "127.0.0.1:\(server.port), unix:\(path)")
            #expect(line.metadata["protocols"] == "HTTP/1.1, HTTP/2 (h2c: prior knowledge, Upgrade)")
            #expect(line.metadata["handlers"] == "2 worker threads")
            #expect(line.metadata["health"] == "/healthz")
            #expect(line.metadata["eventLoops"] == "2")
            #expect(line.metadata["suite"] == "production")
        }
    }

    @Test("one line per failed request, with status and cause: error for 5xx, warning for 4xx, over both protocols")
    func failureLines() async throws {
        try await withProductionServer { server in
            _ = try await curl(["-X", "POST", server.base + "/fail?500"])
            _ = try await curl(["--http2-prior-knowledge", "-X", "POST", server.base + "/fail?400"])
            _ = try await curl(["--data-binary", "ok", server.base + "/echo"])
            let failures = server.logs.all.filter { $0.message == "request failed" }
            #expect(failures.count == 2)
            let serverError = try #require(failures.first { $0.metadata["status"] == "500" })
            #expect(serverError.level == .error)
            #expect(serverError.metadata["cause"] == "the test asked for 500")
            #expect(serverError.metadata["path"] == "/fail")
            #expect(serverError.metadata["method"] == "POST")
            #expect(serverError.metadata["protocol"] == "HTTP/1.1")
            #expect(serverError.metadata["peer"]?.hasPrefix("127.0.0.1:") == true)
            let clientError = try #require(failures.first { $0.metadata["status"] == "400" })
            #expect(clientError.level == .warning)
            #expect(clientError.metadata["protocol"] == "HTTP/2")
            // Without a cause, a text body explains the failure.
            let h2Rejected = try await curl(["--http2-prior-knowledge", "-X", "POST", server.base + "/nowhere"])
            #expect(h2Rejected.stdoutString == "no route for /nowhere\n")
            let rejection = try #require(server.logs.rejections.last)
            #expect(rejection.metadata["status"] == "404")
            #expect(rejection.metadata["cause"] == "no route for /nowhere")
            #expect(rejection.metadata["protocol"] == "HTTP/2")
        }
    }

    @Test("the access log is off by default; on, it writes one line per request")
    func accessLog() async throws {
        try await withProductionServer { server in
            _ = try await curl([server.base + "/hello"])
            #expect(!server.logs.all.contains { $0.message == "access" })
        }
        try await withProductionServer({ $0.accessLog = true }) { server in
            _ = try await curl(["--data-binary", "12345", server.base + "/echo"])
            _ = try await curl(["--http2-prior-knowledge", server.base + "/hello"])
            _ = try await curl([server.base + "/missing"])
            let lines = server.logs.all.filter { $0.message == "access" }
            #expect(lines.count == 3)
            #expect(lines.allSatisfy { $0.level == .info })
            #expect(lines.map { $0.metadata["status"] } == ["200", "200", "404"])
            #expect(lines.map { $0.metadata["path"] } == ["/echo", "/hello", "/missing"])
            #expect(lines.map { $0.metadata["protocol"] } == ["HTTP/1.1", "HTTP/2", "HTTP/1.1"])
            #expect(lines[0].metadata["requestBytes"] == "5")
            #expect(lines[0].metadata["responseBytes"] == "5")
            #expect(lines[0].metadata["durationMs"]?.contains(".") == true)
        }
    }

    @Test("/healthz answers 200 when ready and 503 once not ready, while other routes still serve")
    func health() async throws {
        try await withProductionServer { server in
            #expect(server.server.isReady)
            let ready = try await curl(["-w", " %{http_code}", server.base + "/healthz"])
            #expect(ready.stdoutString == "ok\n 200")
            let h2 = try await curl(["--http2-prior-knowledge", "-w", " %{http_code}", server.base + "/healthz"])
            #expect(h2.stdoutString == "ok\n 200")
            let head = try await curl(["-I", server.base + "/healthz"])
            #expect(head.stdoutString.hasPrefix("HTTP/1.1 200 OK"))
            let post = try await curl(["-X", "POST", "-w", "%{http_code}", "-o", "/dev/null", server.base + "/healthz"])
            #expect(post.stdoutString == "405")

            server.server.markNotReady()
            #expect(!server.server.isReady)
            let draining = try await curl(["-w", " %{http_code}", server.base + "/healthz"])
            #expect(draining.stdoutString == "not ready\n 503")
            let h2Draining = try await curl(["--http2-prior-knowledge", "-w", " %{http_code}", server.base + "/healthz"])
            #expect(h2Draining.stdoutString == "not ready\n 503")
            try await expectServerHealthy(server)
        }
        // With handlers on the loop (StatefunService's default) too, over both protocols.
        try await withProductionServer({ $0.handlerExecution = .eventLoop }) { server in
            for flags in [[], ["--http2-prior-knowledge"]] {
                let ready = try await curl(flags + ["-w", " %{http_code}", server.base + "/healthz"])
                #expect(ready.stdoutString == "ok\n 200", "\(flags)")
            }
            server.server.markNotReady()
            for flags in [[], ["--http2-prior-knowledge"]] {
                let draining = try await curl(flags + ["-w", " %{http_code}", server.base + "/healthz"])
                #expect(draining.stdoutString == "not ready\n 503", "\(flags)")
            }
        }
        try await withProductionServer({ $0.healthCheckPath = nil }) { server in
            let none = try await curl(["-w", "%{http_code}", "-o", "/dev/null", server.base + "/healthz"])
            #expect(none.stdoutString == "404")
        }
    }

    @Test("the server's instruments count what was sent, by path, status and protocol")
    func metrics() async throws {
        let registry = PrometheusCollectorRegistry()
        try await withProductionServer(metricsFactory: PrometheusMetricsFactory(registry: registry)) { server in
            for _ in 0..<3 { _ = try await curl(["--data-binary", "x", server.base + "/echo"]) }
            for _ in 0..<2 { _ = try await curl(["--http2-prior-knowledge", "--data-binary", "x", server.base + "/echo"]) }
            _ = try await curl(["-X", "POST", server.base + "/fail?500"])
            _ = try await curl([server.base + "/nowhere"])
            _ = try await curl([server.base + "/healthz"])
            let h2load = try await runProcess("/usr/bin/h2load", ["-n", "100", "-c", "2", "-m", "10", server.base + "/hello"])
            #expect(h2load.stdoutString.contains("100 succeeded"))

            let samples = try prometheusSamples(exposition(registry))
            let requests = "http_requests_total"
            #expect(samples.value(requests, ["path": "/echo", "status": "200", "protocol": "HTTP/1.1"]) == 3)
            #expect(samples.value(requests, ["path": "/echo", "status": "200", "protocol": "HTTP/2"]) == 2)
            #expect(samples.value(requests, ["path": "/fail", "status": "500", "protocol": "HTTP/1.1"]) == 1)
            #expect(samples.value(requests, ["path": "unmatched", "status": "404", "protocol": "HTTP/1.1"]) == 1)
            #expect(samples.value(requests, ["path": "/healthz", "status": "200", "protocol": "HTTP/1.1"]) == 1)
            #expect(samples.value(requests, ["path": "/hello", "status": "200", "protocol": "HTTP/2"]) == 100)
            #expect(samples.value("http_request_duration_seconds_count", ["path": "/echo"]) == 5)
            #expect(samples.value("http_connections_total") == 10)
            #expect(samples.value("http_handler_tasks_in_flight") == 0)

            // http_connections_open follows the connections: none once the clients are gone,
            // three while three are held open, none again once they close.
            func open() throws -> Double? { try prometheusSamples(exposition(registry)).value("http_connections_open") }
            try await waitUntil("no connection open") { try open() == 0 }
            var held = try (0..<3).map { _ in try RawConnection(port: server.port) }
            for connection in held { try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") }
            #expect(try held.map { try $0.readResponse()?.status } == [200, 200, 200])
            #expect(try open() == 3)
            held = []
            try await waitUntil("the three connections closed") { try open() == 0 }
            #expect(held.isEmpty)
        }
    }

    @Test("failed requests are dumped with status, cause and time, and replay with curl")
    func failedRequestDump() async throws {
        let parent = NSTemporaryDirectory() + "statefun-dump-" + UUID().uuidString
        let directory = parent + "/nested"  // created by the server, parent and all
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let unix = temporarySocketPath()
        try await withProductionServer({
            $0.failedRequestDump = FailedRequestDumpConfiguration(directory: directory)
            $0.unixSocketPath = unix
        }) { server in
            let payload = patternBytes(3000, seed: 5)
            let input = try TemporaryFile(contents: payload)
            defer { input.remove() }
            _ = try await curl(["--data-binary", "@" + input.path, "-H", "Content-Type: application/x-test", server.base + "/fail?500"])
            _ = try await curl(["--http2-prior-knowledge", "--data-binary", "bad", server.base + "/fail?400"])
            _ = try await curl(["--unix-socket", unix, "--data-binary", "via unix", "http://localhost/fail?500"])
            _ = try await curl(["--data-binary", "fine", server.base + "/echo"])          // 200: not dumped
            _ = try await curl(["-X", "POST", server.base + "/fail?503"])                   // not a dumped status
            _ = try await curl(["--data-binary", "x", server.base + "/nowhere"])            // no handler: not dumped

            let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            #expect(files.count == 6, "\(files)")
            let texts = files.filter { $0.hasSuffix(".txt") }
            #expect(texts.count == 3)
            for text in texts {
                #expect(files.contains(String(text.dropLast(4)) + ".body"))
            }
            func meta(_ suffix: String) throws -> (name: String, fields: [String: String], replay: String) {
                let name = try #require(texts.first { $0.hasSuffix(suffix) })
                let content = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
                var fields: [String: String] = [:]
                var replay = ""
                for line in content.split(separator: "\n") {
                    if line.hasPrefix("replay (from this directory): ") {
                        replay = String(line.dropFirst("replay (from this directory): ".count))
                    } else if let colon = line.firstIndex(of: ":"), !line.hasPrefix("header:") {
                        fields[String(line[..<colon])] = String(line[line.index(colon, offsetBy: 2)...])
                    }
                }
                return (String(name.dropLast(4)), fields, replay)
            }
            let h1 = try meta("-000001-500.txt")
            #expect(h1.fields["status"] == "500")
            #expect(h1.fields["cause"] == "the test asked for 500")
            #expect(h1.fields["method"] == "POST")
            #expect(h1.fields["path"] == "/fail?500")
            #expect(h1.fields["protocol"] == "HTTP/1.1")
            #expect(h1.fields["time"]?.hasSuffix("Z") == true)
            #expect(h1.fields["body"] == "\(h1.name).body (3000 bytes)")
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: directory + "/" + h1.name + ".body"))) == payload)
            #expect(h1.replay.contains("-H 'Content-Type: application/x-test'"))
            let h2 = try meta("-000002-400.txt")
            #expect(h2.fields["protocol"] == "HTTP/2")
            #expect(h2.replay.hasPrefix("curl -sS --http2-prior-knowledge -X POST"))
            let viaUnix = try meta("-000003-500.txt")
            #expect(viaUnix.replay.hasSuffix("--unix-socket \(unix) 'http://localhost/fail?500'"))

            // Replaying reproduces the failure, with the same body.
            for dumped in [h1, h2, viaUnix] {
                let replayed = try await runProcess(
                    "/bin/sh", ["-c", "cd '\(directory)' && " + dumped.replay + " -w ' %{http_code}'"])
                #expect(replayed.stdoutString == "failed on purpose\n \(dumped.fields["status"]!)", "\(replayed.stderr)")
            }
            #expect(server.logs.all.filter { $0.message == "request failed" }.count == 3 + 1 + 3)
        }
    }

    @Test("the dump stops at its request limit")
    func dumpLimit() async throws {
        let directory = NSTemporaryDirectory() + "statefun-dump-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withProductionServer({
            $0.failedRequestDump = FailedRequestDumpConfiguration(directory: directory, maxRequests: 2)
        }) { server in
            for _ in 0..<4 { _ = try await curl(["-X", "POST", server.base + "/fail?500"]) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 4)
            #expect(server.logs.all.filter { $0.message.contains("dump is full") }.count == 1)
        }
    }
}
