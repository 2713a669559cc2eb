import Foundation
import Glibc
import Logging
import StatefunServer
import Testing

@Suite("Start, shutdown and signals")
struct LifecycleTests {
    @Test("default configuration values")
    func defaults() {
        let configuration = HTTPServerConfiguration()
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 8000)
        #expect(configuration.eventLoopCount == 0)  // one per CPU the process may use
        #expect(configuration.maxBodySize == 32 * 1024 * 1024)
        #expect(configuration.maxHeaderSize == 16 * 1024)
        #expect(configuration.idleTimeout == .seconds(60))
        #expect(configuration.headerTimeout == .seconds(30))
        #expect(configuration.shutdownGracePeriod == .seconds(30))
        #expect(configuration.backlog == 4096)
    }

    @Test("port 0 binds an ephemeral port that every loop shares")
    func ephemeralPort() async throws {
        try await withTestServer({ $0.eventLoopCount = 3 }) { server in
            #expect(server.port > 0)
            // Many connections land on different loops; all answer.
            for _ in 0..<12 { try await expectServerHealthy(server) }
        }
    }

    @Test("starting on a port in use throws a clear error")
    func addressInUse() async throws {
        try await withTestServer { first in
            let second = HTTPServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: first.port, eventLoopCount: 1), routes: [])
            let error = try #require(throws: HTTPServerError.self) { try second.start() }
            #expect(error.kind == .addressInUse)
            #expect(error.description.contains("127.0.0.1:\(first.port)"))
            #expect(error.description.contains("address already in use"))
            #expect(second.localPort == 0)
            await second.waitUntilStopped()  // never started: returns at once
            try await expectServerHealthy(first)
        }
    }

    @Test("binding \"::\" serves IPv6 and IPv4 clients and reports their addresses", .enabled(if: ipv6LoopbackAvailable))
    func ipv6DualStack() async throws {
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "::", port: 0, eventLoopCount: 1),
            routes: [Route(path: "/peer", methods: ["GET"]) { .text(200, $0.peer) }],
            logger: Logger(label: "test.ipv6") { _ in RecordingLogHandler(store: LogStore()) })
        try server.start()
        let v6 = try await curl(["-g", "http://[::1]:\(server.localPort)/peer"])
        let v4 = try await curl(["http://127.0.0.1:\(server.localPort)/peer"])
        server.shutdown()
        await server.waitUntilStopped()
        #expect(v6.stdoutString.hasPrefix("[::1]:"))
        #expect(v4.stdoutString.hasPrefix("[::ffff:127.0.0.1]:"))
    }

    @Test("an unresolvable host throws")
    func badHost() {
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "no such host.invalid", port: 0, eventLoopCount: 1), routes: [])
        let error = #expect(throws: HTTPServerError.self) { try server.start() }
        #expect(error?.kind == .addressResolution)
    }

    @Test("start twice throws")
    func startTwice() async throws {
        try await withTestServer { server in
            let error = #expect(throws: HTTPServerError.self) { try server.server.start() }
            #expect(error?.kind == .alreadyStarted)
        }
    }

    @Test("shutdown lets an in-flight request finish with its full response, then refuses connections")
    func gracefulShutdown() async throws {
        let server = try TestServer.start()
        let port = server.port
        async let inFlight = curl(["-D", "-", "--data-binary", "payload", server.base + "/hang"])
        try await server.hooks.handlerStarted.opened()
        server.server.shutdown()
        // Every loop has begun draining once new connections are refused (each closes its
        // listener as it starts): only then does the handler answer, so the answer sees the
        // drain however slowly the loops get to it on a loaded machine.
        try await waitUntil("the listeners closed") { (try? RawConnection(port: port)) == nil }
        server.hooks.releaseHang.open()
        let result = try await inFlight
        await server.server.waitUntilStopped()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutString.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(result.stdoutString.contains("\r\nConnection: close\r\n"), "\(result.stdoutString)")
        #expect(result.stdoutString.hasSuffix("\r\n\r\nreleased"))
        #expect(throws: TestFailure.self) { try RawConnection(port: port) }
    }

    @Test("shutdown closes idle keep-alive connections promptly")
    func shutdownClosesIdle() async throws {
        let server = try TestServer.start()
        let connection = try await offloaded { () -> RawConnectionBox in
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try connection.readResponse()?.bodyString == "hello")
            return RawConnectionBox(connection)
        }
        server.server.shutdown()
        await server.server.waitUntilStopped()
        let closed = try await offloaded { try connection.connection.readsEOF() }
        #expect(closed)
    }

    @Test("after the grace period unfinished requests are cut off and the loops stop")
    func forcedShutdown() async throws {
        let server = try TestServer.start { $0.shutdownGracePeriod = .milliseconds(200) }
        async let inFlight = rawExchange(
            port: server.port, Array("POST /hang HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".utf8))
        try await server.hooks.handlerStarted.opened()
        server.server.shutdown()
        await server.server.waitUntilStopped()
        let (response, closed) = try await inFlight
        #expect(response == nil)
        #expect(closed)
        #expect(server.logs.all.contains { $0.message.contains("grace period over") })
        server.hooks.releaseHang.open()  // the abandoned handler finishes; its response goes nowhere
    }

    @Test("shutdown before start, and twice, is harmless: the server stops, closes its idle connections, and cannot be started again")
    func shutdownEdgeCases() async throws {
        func startRefused(_ server: HTTPServer) {
            do {
                try server.start()
                Issue.record("a server that was shut down started again")
            } catch {
                #expect((error as? HTTPServerError)?.kind == .alreadyStarted, "\(error)")
            }
        }
        let never = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), routes: [])
        never.shutdown()
        await never.waitUntilStopped()
        #expect(!never.isReady)
        #expect(never.localPort == 0)
        startRefused(never)

        let server = try TestServer.start()
        let port = server.port
        let idle = try RawConnection(port: port)
        try idle.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try idle.readResponse()?.bodyString == "hello")
        server.server.shutdown()
        server.server.shutdown(gracePeriod: .zero)
        await server.server.waitUntilStopped()
        await server.server.waitUntilStopped()
        #expect(try idle.readsEOF(), "the idle keep-alive connection is closed")
        #expect(!server.server.isReady)
        #expect(server.server.localPort == port)
        startRefused(server.server)
    }

    @Test("run() shuts down gracefully on SIGTERM and returns")
    func runWithSignal() async throws {
        let logs = LogStore()
        let hooks = TestHooks()
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 1),
            routes: testRoutes(hooks), logger: Logger(label: "test.run") { _ in RecordingLogHandler(store: logs) })
        let running = Task { try await server.run() }
        // run() installs its handlers before binding, so a port means SIGTERM is handled.
        while server.localPort == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let port = server.localPort
        async let inFlight = curl(["--data-binary", "abc", "http://127.0.0.1:\(port)/slow"])
        try await hooks.handlerStarted.opened()
        kill(getpid(), SIGTERM)
        try await running.value
        #expect(try await inFlight.stdoutString == "slow done: 3 bytes")
        #expect(logs.all.contains { $0.message.contains("termination signal received") })
    }

    @Test("cancelling the task running run() shuts the server down")
    func runCancelled() async throws {
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 1),
            routes: testRoutes(TestHooks()), logger: Logger(label: "test.cancel") { _ in RecordingLogHandler(store: LogStore()) })
        let running = Task { try await server.run() }
        while server.localPort == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let port = server.localPort
        let (response, _) = try await rawExchange(port: port, Array("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
        #expect(response?.bodyString == "hello")
        running.cancel()
        try await running.value
        #expect(throws: TestFailure.self) { try RawConnection(port: port) }
    }
}

let ipv6LoopbackAvailable: Bool = {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_addr = in6addr_loopback
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    } == 0
}()

/// Carries a RawConnection between offloaded blocks of one test.
final class RawConnectionBox: @unchecked Sendable {
    let connection: RawConnection
    init(_ connection: RawConnection) { self.connection = connection }
}
