import Foundation
import Logging
import ServiceLifecycle
import StatefunServer
import Testing

@Suite("swift-service-lifecycle: the server as a Service")
struct ServiceLifecycleTests {
    /// A server (not started) with the test routes, and a group that runs it.
    static func group(
        _ configure: (inout HTTPServerConfiguration) -> Void = { _ in }
    ) -> (HTTPServer, ServiceGroup, TestHooks, LogStore) {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 2)
        configure(&configuration)
        let hooks = TestHooks()
        let logs = LogStore()
        let logger = Logger(label: "test.lifecycle") { _ in RecordingLogHandler(store: logs) }
        let server = HTTPServer(
            configuration: configuration, routes: testRoutes(hooks) + productionRoutes(hooks), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: server.service)], logger: logger))
        return (server, group, hooks, logs)
    }

    @Test("the group's graceful shutdown: not ready, stop accepting, the in-flight request finishes, run() returns")
    func gracefulShutdown() async throws {
        let (server, group, hooks, logs) = Self.group()
        let running = Task { try await group.run() }
        try await waitUntil("listening") { server.localPort != 0 }
        let port = server.localPort
        async let inFlight = curl(["-D", "-", "-X", "POST", "http://127.0.0.1:\(port)/hang"])
        try await hooks.handlerStarted.opened()
        await group.triggerGracefulShutdown()
        // Refused connections mean every loop has closed its listener: the drain has begun.
        try await waitUntil("listeners closed") { (try? RawConnection(port: port)) == nil }
        #expect(!server.isReady)
        hooks.releaseHang.open()
        let result = try await inFlight
        try await running.value
        #expect(result.stdoutString.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(result.stdoutString.contains("\r\nConnection: close\r\n"))
        #expect(result.stdoutString.hasSuffix("\r\n\r\nreleased"))
        #expect(logs.all.contains { $0.message == "HTTP server stopped" })
    }

    @Test("with a shutdown delay the server keeps serving, /healthz says 503, until the delay is over")
    func shutdownDelay() async throws {
        // A delay far longer than the test: cancelling the group ends it.
        let (server, group, _, _) = Self.group { $0.shutdownDelay = .seconds(600) }
        let running = Task { try await group.run() }
        try await waitUntil("listening") { server.localPort != 0 }
        let base = "http://127.0.0.1:\(server.localPort)"
        #expect(try await curl(["-w", " %{http_code}", base + "/healthz"]).stdoutString == "ok\n 200")
        await group.triggerGracefulShutdown()
        try await waitUntil("not ready") { !server.isReady }
        #expect(try await curl(["-w", " %{http_code}", base + "/healthz"]).stdoutString == "not ready\n 503")
        #expect(try await curl(["--http2-prior-knowledge", base + "/hello"]).stdoutString == "hello")
        #expect(try await curl(["--data-binary", "still", base + "/echo"]).stdoutString == "still")
        running.cancel()
        try await running.value
        await server.waitUntilStopped()

        // A short delay: once it is over, the server stops accepting and run() returns by itself.
        // (On a Unix socket of its own: a freed TCP port may be taken at once by a test running
        // in parallel, so refusing connections there proves nothing.)
        let socketPath = NSTemporaryDirectory() + "statefun-delay-" + UUID().uuidString + ".sock"
        let (short, shortGroup, _, _) = Self.group {
            $0.shutdownDelay = .milliseconds(200)
            $0.tcpEnabled = false
            $0.unixSocketPath = socketPath
        }
        let shortRunning = Task { try await shortGroup.run() }
        try await waitUntil("listening") { !short.listeningAddresses.isEmpty }
        #expect(try await curl(["--unix-socket", socketPath, "http://localhost/healthz"]).stdoutString == "ok\n")
        await shortGroup.triggerGracefulShutdown()
        try await shortRunning.value
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the listening socket is gone")
        let refused = try await curl(["--unix-socket", socketPath, "http://localhost/healthz"])
        #expect(refused.status != 0, "connecting after the delay: \(refused.stdoutString)")
    }

    @Test("cancelling the group closes in-flight requests at once")
    func cancellation() async throws {
        let (server, group, hooks, _) = Self.group { $0.shutdownGracePeriod = .seconds(600) }
        let running = Task { try await group.run() }
        try await waitUntil("listening") { server.localPort != 0 }
        async let inFlight = rawExchange(
            port: server.localPort, Array("POST /hang HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".utf8))
        try await hooks.handlerStarted.opened()
        running.cancel()
        try await running.value
        let (response, closed) = try await inFlight
        #expect(response == nil)
        #expect(closed)
        hooks.releaseHang.open()
    }
}
