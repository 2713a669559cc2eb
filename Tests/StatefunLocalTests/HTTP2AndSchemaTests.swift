import Foundation
import Greeter
import GreeterV3
import StatefulFunctions
import StatefunLocks
import StatefunServer
import StatefunService
import Synchronization
import Testing

/// What an endpoint saw: the HTTP versions, the client connections (TCP peers),
/// and the most requests it handled at once.
final class RequestRecorder: Sendable {
    let versions = Lock<Set<String>>([])
    let peers = Lock<Set<String>>([])
    let running = Atomic<Int>(0)
    let mostRunning = Atomic<Int>(0)
    let requests = Atomic<Int>(0)

    func begin(_ request: ServerRequest) {
        versions.withLock { _ = $0.insert(request.version) }
        peers.withLock { _ = $0.insert(request.peer) }
        requests.add(1, ordering: .relaxed)
        let now = running.add(1, ordering: .relaxed).newValue
        mostRunning.max(now, ordering: .relaxed)
    }

    func end() { running.subtract(1, ordering: .relaxed) }
}

/// Serves `register`'s functions at /statefun, recording each request.
func serveRecording(
    protocol version: ProtocolVersion = .v3, port: Int = 0, unixSocket: String? = nil, maxConcurrentStreams: Int = 256,
    http2: Bool = true,
    _ register: (StatefulFunctions) throws -> Void
) throws -> (HTTPServer, RequestRecorder) {
    let functions = StatefulFunctions()
    try register(functions)
    let handler = RequestReplyHandler(functions, protocol: version)
    let recorder = RequestRecorder()
    var configuration = HTTPServerConfiguration(
        host: "127.0.0.1", port: port, tcpEnabled: unixSocket == nil, unixSocketPath: unixSocket)
    configuration.eventLoopCount = 1
    configuration.http2.maxConcurrentStreams = maxConcurrentStreams
    configuration.http2.enabled = http2
    let server = HTTPServer(configuration: configuration, routes: [
        Route(path: "/statefun") { request in
            recorder.begin(request)
            defer { recorder.end() }
            let response = await handler.handle(request.body)
            return ServerResponse(
                status: response.status, headers: [(name: "Content-Type", value: response.contentType)], body: response.body)
        },
    ])
    try server.start()
    return (server, recorder)
}

struct FlakyH2: Error {}

func stop(_ server: HTTPServer) async {
    server.shutdown()
    await server.waitUntilStopped()
}

/// A TCP proxy in front of `target` that closes its first `drop` connections
/// after their first bytes: a connection lost mid-request. Blocking sockets on threads of its own.
final class DroppingProxy: Sendable {
    let port: Int
    private let listener: Int32

    init(to target: Int, drop: Int) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, pointer, &length) == 0
            }
        }
        guard bound else { throw TestFailure("the proxy cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread {
            // The thread closes the listener, once accept fails (after stop()): closed in
            // stop(), its number could be reused by another test's socket (a server's
            // listener) before this loop calls accept again, which would then take, and
            // close, a connection of that test.
            defer { close(listener) }
            var accepted = 0
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                accepted += 1
                if accepted <= drop {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    _ = recv(client, &buffer, buffer.count, 0)
                    close(client)
                    continue
                }
                guard let upstream = try? connectLoopback(target) else {
                    close(client)
                    continue
                }
                Self.pump(client, upstream)
                Self.pump(upstream, client)
            }
        }.start()
    }

    /// Copies from `from` to `to` until either side ends, then ends both directions.
    private static func pump(_ from: Int32, _ to: Int32) {
        Thread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = recv(from, &buffer, buffer.count, 0)
                if n <= 0 { break }
                if send(to, buffer, n, Int32(MSG_NOSIGNAL)) != n { break }
            }
            shutdown(to, Int32(SHUT_WR))
            shutdown(from, Int32(SHUT_RD))
        }.start()
    }

    /// Stops accepting: accept fails in the proxy's thread, which closes the listener.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }
}

func connectLoopback(_ port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let ok = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard ok else {
        close(fd)
        throw TestFailure("cannot connect to \(port)")
    }
    return fd
}

func temporarySocketPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("statefun-h2c-\(UUID().uuidString.prefix(8)).sock").path
}

@Suite struct StatefunLocalHTTP2Tests {
    /// `--h2c`: every request on one connection, many streams at once.
    @Test func manyAddressesShareOneMultiplexedConnection() async throws {
        let (server, recorder) = try serveRecording { functions in
            try functions.bind("example/slow", String.self) { context, value in
                try await Task.sleep(for: .milliseconds(200))
                context.sendEgress(try EgressMessage("example/out", value: "\(context.address.id):\(value)"))
            }
        }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let ids = (1...30).map { "a\($0)" }
        let input = (ids + ids).map { #"{"target": "example/slow/\#($0)", "type": "io.statefun.types/string", "value": "v"}"# }
        let result = try await run(statefunLocal, ["--module", module, "--h2c"], input: input.joined(separator: "\n"))
        await stop(server)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.egress.count == 60, "\(result.stdout)")
        #expect(Set(result.egress).count == 30)
        #expect(recorder.versions.withLock { $0 } == ["HTTP/2"])
        #expect(recorder.peers.withLock { $0.count } == 1, "connections: \(recorder.peers.withLock { $0 })")
        // The 30 addresses ran together, not one after another: counted, not timed
        // (a time limit failed under ASan on a busy machine).
        #expect(recorder.mostRunning.load(ordering: .relaxed) >= 5, "at most \(recorder.mostRunning.load(ordering: .relaxed)) at once")
    }

    /// A server that takes 4 streams at a time: the others wait (or, refused
    /// before its SETTINGS arrived, are retried), and all get through.
    @Test func aServerLimitOnConcurrentStreamsIsKept() async throws {
        let (server, recorder) = try serveRecording(maxConcurrentStreams: 4) { functions in
            try functions.bind("example/slow", String.self) { context, value in
                try await Task.sleep(for: .milliseconds(50))
                context.sendEgress(try EgressMessage("example/out", value: "\(context.address.id):\(value)"))
            }
        }
        let module = try moduleFile(v3Module("h2c://127.0.0.1:\(server.localPort)/statefun"))
        let input = (1...40).map { #"{"target": "example/slow/a\#($0)", "type": "io.statefun.types/string", "value": "v"}"# }
        let result = try await run(statefunLocal, ["--module", module], input: input.joined(separator: "\n"))
        await stop(server)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Set(result.egress).count == 40, "\(result.stdout)")
        #expect(recorder.mostRunning.load(ordering: .relaxed) <= 4)
        #expect(recorder.peers.withLock { $0.count } == 1)
    }

    /// `h2c+unix://` in module.yaml: the greeter-v3 round trip over a Unix socket.
    @Test func greeterV3OverAUnixSocketWithTheH2cScheme() async throws {
        let path = temporarySocketPath()
        let (server, recorder) = try serveRecording(unixSocket: path, GreeterV3.register(in:))
        let module = try moduleFile(v3Module("h2c+unix://\(path)/statefun"))
        let result = try await run(statefunLocal, ["--module", module], input: names(Array(repeating: "ann", count: 12) + ["bob"]))
        await stop(server)
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.egress.filter { $0.contains(#""egress":"example/out""#) }
        #expect(out.filter { $0.contains("ann:") }.last?.contains(#""value":"ann:12""#) == true, "\(out)")
        #expect(out.contains { $0.contains(#""value":"bob:1""#) }, "\(out)")
        #expect(result.egress.contains(#"{"egress":"example/audit-out","type":"io.statefun.types/string","value":"ann:1"}"#))
        #expect(recorder.versions.withLock { $0 } == ["HTTP/2"])
    }

    @Test func greeterV3OverTCPWithTheH2cScheme() async throws {
        let (server, recorder) = try serveRecording(GreeterV3.register(in:))
        let module = try moduleFile(v3Module("h2c://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(statefunLocal, ["--module", module], input: names(["ann", "bob", "ann"]))
        await stop(server)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.egress.filter { $0.contains(#""egress":"example/out""#) }.count == 3, "\(result.stdout)")
        #expect(result.egress.contains { $0.contains(#""value":"ann:2""#) }, "\(result.stdout)")
        #expect(recorder.versions.withLock { $0 } == ["HTTP/2"])
        #expect(recorder.peers.withLock { $0.count } == 1)
    }

    @Test func a500IsRetriedOverH2c() async throws {
        let failures = Atomic<Int>(0)
        let (server, recorder) = try serveRecording { functions in
            try functions.bind("example/flaky", String.self) { context, value in
                if failures.add(1, ordering: .relaxed).newValue <= 2 { throw FlakyH2() }
                context.sendEgress(try EgressMessage("example/out", value: value))
            }
        }
        let module = try moduleFile(v3Module("h2c://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(
            statefunLocal, ["--module", module], input: #"{"target": "example/flaky/f", "type": "io.statefun.types/string", "value": "once"}"#)
        await stop(server)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.egress == [#"{"egress":"example/out","type":"io.statefun.types/string","value":"once"}"#])
        #expect(result.stderr.contains("2 retries"), "\(result.stderr)")
        #expect(recorder.versions.withLock { $0 } == ["HTTP/2"])
    }

    /// The first two connections are lost with the requests on them: retried on new ones.
    @Test func aDroppedConnectionIsRetriedOverH2c() async throws {
        let (server, recorder) = try serveRecording(GreeterV3.register(in:))
        let proxy = try DroppingProxy(to: server.localPort, drop: 2)
        defer { proxy.stop() }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(proxy.port)/statefun"))
        let result = try await run(statefunLocal, ["--module", module, "--h2c"], input: names(["ann", "bob", "cid"]))
        await stop(server)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.egress.filter { $0.contains(#""egress":"example/out""#) }.count == 3, "\(result.stdout)")
        #expect(count("retries", in: result.stderr) >= 2, "\(result.stderr)")
        #expect(recorder.versions.withLock { $0 } == ["HTTP/2"])
    }

    /// A server shutting down sends GOAWAY and finishes its streams; what comes
    /// after goes to a new connection (here, to a new server on the same port).
    @Test func afterGoawayRequestsGoToANewConnection() async throws {
        // Each message asks for the next one: 20 requests one after another per address.
        let register: (StatefulFunctions) throws -> Void = { functions in
            try functions.bind("example/chain", Int32.self) { context, step in
                try await Task.sleep(for: .milliseconds(20))
                context.sendEgress(try EgressMessage("example/out", value: "\(context.address.id):\(step)"))
                if step < 20 { try context.send(to: context.address, message: AnyMessage(packing: step + 1)) }
            }
        }
        let (first, firstRecorder) = try serveRecording(register)
        let port = first.localPort
        let module = try moduleFile(v3Module("h2c://127.0.0.1:\(port)/statefun"))
        let input = ["a", "b"].map { #"{"target": "example/chain/\#($0)", "type": "io.statefun.types/int", "value": 1}"# }
        let running = Task { try await run(statefunLocal, ["--module", module], input: input.joined(separator: "\n")) }
        let deadline = ContinuousClock.now + .seconds(20)
        while firstRecorder.requests.load(ordering: .relaxed) < 4 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        await stop(first)
        let (second, secondRecorder) = try serveRecording(port: port, register)
        let result = try await running.value
        await stop(second)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Set(result.egress).count == 40, "\(result.stdout)")
        #expect(secondRecorder.requests.load(ordering: .relaxed) > 0)
        #expect(secondRecorder.versions.withLock { $0 } == ["HTTP/2"])
    }

    /// `--h2c` against an endpoint that speaks only HTTP/1.1 fails at once, and says why.
    @Test func anHTTP1OnlyEndpointFailsTheJobWithAClearError() async throws {
        let (server, _) = try serveRecording(http2: false, GreeterV3.register(in:))
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(statefunLocal, ["--module", module, "--h2c"], input: names(["ann"]))
        await stop(server)
        #expect(result.status == 1)
        #expect(result.stderr.contains("answered the HTTP/2 preface in HTTP/1.1 (HTTP/1.1 505"), "\(result.stderr)")
        #expect(result.stderr.contains("0 retries") || !result.stderr.contains("retries"), "\(result.stderr)")
    }

    /// An endpoint that is gone: the job fails after its retries, as over HTTP/1.1.
    @Test func anEndpointThatIsGoneFailsTheJobAfterRetries() async throws {
        let gone = try ClosedPort()
        let module = try moduleFile(v3Module("h2c://127.0.0.1:\(gone.port)/statefun"))
        let result = try await run(statefunLocal, ["--module", module, "--call-timeout", "1"], input: names(["ann"]))
        withExtendedLifetime(gone) {}
        #expect(result.status == 1)
        #expect(result.stderr.contains("gave up after"), "\(result.stderr)")
        #expect(result.stderr.contains("Connection refused"), "\(result.stderr)")
    }
}

@Suite struct DescriptorSetTests {
    static func greeterModule(_ port: Int) throws -> String {
        try moduleFile("""
            version: "2.0"
            module:
              meta:
                type: remote
              spec:
                functions:
                  - function:
                      meta:
                        kind: http
                        type: example/greeter
                      spec:
                        endpoint: http://127.0.0.1:\(port)/statefun
                        states:
                          - name: seen_count
                  - function:
                      meta:
                        kind: http
                        type: example/echo
                      spec:
                        endpoint: http://127.0.0.1:\(port)/statefun
            \(v2TestEgresses)
            """)
    }

    static func serveGreeter() throws -> (HTTPServer, RequestRecorder) {
        try serveRecording(protocol: .v2) { functions in
            try Greeter.register(in: functions)
            // Egress of a protobuf type the descriptor set knows: printed as JSON.
            try functions.bind("example/echo", Example_GreetRequest.self) { context, request in
                let response = Example_GreetResponse.with {
                    $0.name = request.name
                    $0.greeting = "echo \(request.name)"
                }
                context.sendEgress(try EgressMessage("example/echoes", value: response))
            }
        }
    }

    @Test func theGreeterTakesJSONLines() async throws {
        let descriptors = try await descriptorSet("Examples/Greeter/Protos", ["greeter.proto"])
        let (server, _) = try Self.serveGreeter()
        let module = try Self.greeterModule(server.localPort)
        let input = [
            #"{"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "ann"}}"#,
            #"{"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "ann"}}"#,
            #"{"target": "example/greeter/bob", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "bob"}}"#,
            #"{"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "ann"}}"#,
            #"{"target": "example/echo/e", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "eve"}}"#,
        ]
        let result = try await run(
            statefunLocal, ["--module", module, "--descriptor-set", descriptors], input: input.joined(separator: "\n"))
        await stop(server)
        #expect(result.status == 0, "\(result.stderr)")
        let greetings = result.egress.filter { $0.contains("example/greets") }
            .compactMap { $0.components(separatedBy: #""2":""#).last?.split(separator: "\"").first }
        #expect(greetings.filter { $0 != "Hello bob" } == ["Hello ann", "Hello again!", "Third time's the charm"], "\(result.stdout)")
        #expect(greetings.contains("Hello bob"))
        #expect(result.egress.contains(
            #"{"egress":"example/echoes","json":{"greeting":"echo eve","name":"eve"},"type":"type.googleapis.com/example.GreetResponse"}"#),
            "\(result.stdout)")
    }

    @Test func mistakesInJSONLinesNameTheLine() async throws {
        let descriptors = try await descriptorSet("Examples/Greeter/Protos", ["greeter.proto"])
        let nobody = try ClosedPort()      // never reached: each line fails before a call
        defer { withExtendedLifetime(nobody) {} }
        let module = try Self.greeterModule(nobody.port)
        let good = #"{"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "ann"}}"#
        func failure(_ line: String, descriptorSet: Bool = true) async throws -> String {
            let result = try await run(
                statefunLocal, ["--module", module] + (descriptorSet ? ["--descriptor-set", descriptors] : []),
                input: line + "\n" + good)
            #expect(result.status != 0)
            return result.stderr
        }
        let unknown = try await failure(
            #"{"target": "example/greeter/ann", "type": "example/GreetRequest", "json": {"nmae": "ann"}}"#)
        #expect(unknown.contains(#"line 1: input: unknown field "nmae" in example.GreetRequest"#), "\(unknown)")
        let wrongType = try await failure(
            #"{"target": "example/greeter/ann", "type": "example/GreetRequest", "json": {"name": 5}}"#)
        #expect(wrongType.contains("line 1: input: example.GreetRequest.name needs a string, not a number"), "\(wrongType)")
        let malformed = try await failure(#"{"target": "example/greeter/ann", "type": "example/GreetRequest", "json": {"name": }"#)
        #expect(malformed.contains("line 1: input: not a JSON object"), "\(malformed)")
        let unknownType = try await failure(
            #"{"target": "example/greeter/ann", "type": "example/Nothing", "json": {}}"#)
        #expect(unknownType.contains("line 1: input: type example/Nothing names no message of the descriptor set"), "\(unknownType)")
        let noSchema = try await failure(good, descriptorSet: false)
        #expect(noSchema.contains("line 1: input: a \"json\" value needs the message's schema: give --descriptor-set"), "\(noSchema)")
    }
}
