import Foundation
import Logging
import StatefulFunctions
import StatefunLocal
import StatefunServer
import StatefunService
import StatefunLocks
import Synchronization
import Testing

/// statefun-local's runtime semantics, driven in-process (LocalRuntime against a real
/// endpoint over HTTP) so that the schedule and the clock are the test's: the retry
/// backoff, the batch cap, and state expiration on the virtual clock.
@Suite("statefun-local: backoff, batch cap, state expiration")
struct RuntimeSemanticsTests {
    /// What the endpoint's function saw: per invocation, the request it came in and its message.
    final class Recorder: Sendable {
        let requests = Atomic<Int>(0)
        let failFirst: Int
        private let seen = Lock<[(request: Int, text: String)]>([])

        init(failFirst: Int = 0) { self.failFirst = failFirst }
        func record(_ text: String) { seen.withLock { $0.append((requests.load(ordering: .relaxed), text)) } }
        var invocations: [(request: Int, text: String)] { seen.withLock { $0 } }
    }

    /// Serves `functions` on 127.0.0.1 (any free port); the first `recorder.failFirst` requests are answered 503.
    func serve(_ functions: StatefulFunctions, _ version: ProtocolVersion, _ recorder: Recorder) throws -> HTTPServer {
        let handler = RequestReplyHandler(functions, protocol: version, logger: Logger(label: "test"))
        let route = Route(path: "/statefun", methods: ["POST"]) { request in
            if recorder.requests.add(1, ordering: .relaxed).newValue <= recorder.failFirst {
                return .text(503, "unavailable on purpose")
            }
            let response = await handler.handle(request.body)
            return ServerResponse(
                status: response.status, headers: [(name: "Content-Type", value: response.contentType)], body: response.body)
        }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        let server = HTTPServer(configuration: configuration, routes: [route], logger: Logger(label: "test"))
        try server.start()
        return server
    }

    func runtime(_ module: String, _ options: LocalRuntime.Options = .init()) throws -> LocalRuntime {
        LocalRuntime(module: try ModuleFile(yaml: module), client: HTTPClient(), options: options, output: { _ in })
    }

    func stop(_ server: HTTPServer) async {
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("the retry backoff starts at 10 ms, doubles, and stays at 1 s")
    func backoffGrowthAndCeiling() async throws {
        let functions = StatefulFunctions()
        let recorder = Recorder(failFirst: 10)
        try functions.bind("example/echo", String.self) { _, value in recorder.record(value) }
        let server = try serve(functions, .v3, recorder)
        let schedule = Lock<[Duration]>([])
        var options = LocalRuntime.Options()
        options.backoffSleep = { delay in schedule.withLock { $0.append(delay) } }   // recorded, not slept
        let runtime = try runtime(v3Module("http://127.0.0.1:\(server.localPort)/statefun"), options)
        await runtime.ingest(try AnyMessage(packing: "once"), to: Address(namespace: "example", type: "echo", id: "a"))
        let summary = try await runtime.finish()
        await stop(server)
        #expect(summary.retries == 10)
        #expect(recorder.invocations.map(\.text) == ["once"])
        #expect(schedule.withLock { $0 } == [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000].map { Duration.milliseconds($0) })
    }

    @Test("maxNumBatchRequests: messages queued behind a request in flight go in batches of at most that many")
    func batchCap() async throws {
        let functions = StatefulFunctions()
        let recorder = Recorder()
        try functions.bind("example/echo", String.self) { _, value in recorder.record(value) }
        let server = try serve(functions, .v3, recorder)
        let module = v3Module("http://127.0.0.1:\(server.localPort)/statefun", egresses: []) + "  maxNumBatchRequests: 3\n"   // the endpoint document last
        let runtime = try runtime(module)
        // The first message goes at once; the other nine queue behind it (one request in flight per address).
        for i in 1...10 {
            await runtime.ingest(try AnyMessage(packing: "m\(i)"), to: Address(namespace: "example", type: "echo", id: "a"))
        }
        let summary = try await runtime.finish()
        await stop(server)
        let invocations = recorder.invocations
        #expect(invocations.map(\.text) == (1...10).map { "m\($0)" })
        let sizes = Dictionary(grouping: invocations, by: \.request).sorted { $0.key < $1.key }.map(\.value.count)
        #expect(sizes == [1, 3, 3, 3])
        #expect(summary.batches == 4)
    }

    /// A function that writes state `seen` (TTL 1 s), then reads it back from messages it sends
    /// itself 0.8 s, 1.5 s and 3 s later: on the virtual clock, at once, in due order.
    func expiringFunction(_ functions: StatefulFunctions, states: [ValueSpec], _ recorder: Recorder) throws {
        try functions.bind("example/exp", String.self, states: states) { context, value in
            if value == "set" {
                try context.setState("seen", to: "yes")
                for (delay, label) in [(Duration.milliseconds(800), "0.8s"), (.milliseconds(1500), "1.5s"), (.seconds(3), "3s")] {
                    try context.sendAfter(delay, try OutgoingMessage(to: context.address, value: label))
                }
            } else {
                recorder.record("\(value): \(try context.state("seen", as: String.self) ?? "absent")")
            }
        }
    }

    /// After a write, the state lives 1 s whatever reads it; after an invocation, each read renews it.
    static let afterWrite = ["0.8s: yes", "1.5s: absent", "3s: absent"]
    static let afterInvoke = ["0.8s: yes", "1.5s: yes", "3s: absent"]

    @Test("3.x state with an expiration (value spec) is gone once it expires, on the virtual clock", arguments: ["after-write", "after-invoke"])
    func expirationV3(_ mode: String) async throws {
        let functions = StatefulFunctions()
        let recorder = Recorder()
        let expiration: ValueSpec.Expiration = mode == "after-write" ? .afterWrite(.seconds(1)) : .afterInvoke(.seconds(1))
        try expiringFunction(functions, states: [ValueSpec("seen", String.self, expiration: expiration)], recorder)
        let server = try serve(functions, .v3, recorder)
        var options = LocalRuntime.Options()
        options.virtualClock = true
        let runtime = try runtime(v3Module("http://127.0.0.1:\(server.localPort)/statefun"), options)
        await runtime.ingest(try AnyMessage(packing: "set"), to: Address(namespace: "example", type: "exp", id: "a"))
        _ = try await runtime.finish()
        await stop(server)
        #expect(recorder.invocations.map(\.text) == (mode == "after-write" ? Self.afterWrite : Self.afterInvoke))
    }

    @Test("2.x state with expireAfter in module.yaml is gone once it expires, on the virtual clock", arguments: ["after-write", "after-invoke"])
    func expirationV2(_ mode: String) async throws {
        let functions = StatefulFunctions()
        let recorder = Recorder()
        try expiringFunction(functions, states: [], recorder)
        let server = try serve(functions, .v2, recorder)
        var options = LocalRuntime.Options()
        options.virtualClock = true
        let runtime = try runtime("""
            version: "2.0"
            module:
              meta:
                type: remote
              spec:
                functions:
                  - function:
                      meta:
                        kind: http
                        type: example/exp
                      spec:
                        endpoint: http://127.0.0.1:\(server.localPort)/statefun
                        states:
                          - name: seen
                            expireAfter: 1s
                            expireMode: \(mode)
            """, options)
        await runtime.ingest(try AnyMessage(packing: "set"), to: Address(namespace: "example", type: "exp", id: "a"))
        _ = try await runtime.finish()
        await stop(server)
        #expect(recorder.invocations.map(\.text) == (mode == "after-write" ? Self.afterWrite : Self.afterInvoke))
    }
}
