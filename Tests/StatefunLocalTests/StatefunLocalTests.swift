import ChildProcess
import Foundation
import GreeterV3
import Logging
import StatefulFunctions
import StatefunLocks
import StatefunServer
import StatefunService
import Synchronization
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
/// The built executables sit next to the test bundle.
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let statefunLocal = binDirectory.appendingPathComponent("statefun-local").path

struct Run {
    let status: Int32
    let stdout: String
    let stderr: String
    var egress: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs a program to completion on a thread of its own (never on the task pool,
/// which the in-process endpoints need).
func run(_ executable: String, _ arguments: [String], input: String = "") async throws -> Run {
    try await withThreadHandoff { deliver in
        Thread {
            deliver(Result {
                let (stdin, stdout, stderr) = (Pipe(), Pipe(), Pipe())
                let process = try ChildProcess(
                    executable, arguments, stdin: .descriptor(stdin.fileHandleForReading.fileDescriptor),
                    stdout: .descriptor(stdout.fileHandleForWriting.fileDescriptor),
                    stderr: .descriptor(stderr.fileHandleForWriting.fileDescriptor))
                // The child holds its own ends now: ours would keep the pipes from ending.
                try stdin.fileHandleForReading.close()
                try stdout.fileHandleForWriting.close()
                try stderr.fileHandleForWriting.close()
                stdin.fileHandleForWriting.write(Data(input.utf8))
                try stdin.fileHandleForWriting.close()
                let errors = Lock(Data())
                let drain = Thread { errors.withLock { $0 = stderr.fileHandleForReading.readDataToEndOfFile() } }
                drain.start()
                let out = stdout.fileHandleForReading.readDataToEndOfFile()
                let status = process.waitUntilExit()
                while drain.isExecuting || !drain.isFinished { Thread.sleep(forTimeInterval: 0.01) }
                return Run(
                    status: status, stdout: String(decoding: out, as: UTF8.self),
                    stderr: String(decoding: errors.withLock { $0 }, as: UTF8.self))
            })
        }.start()
    }
}

func moduleFile(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("module-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The egresses the tests' functions send to, declared as module.yaml declares them: the
/// runtime fails the job on a message to an egress it does not declare.
let testEgresses = ["example/out", "example/audit-out", "example/echoes"]

/// A 3.x module.yaml: one endpoint, and `egresses` of a kind that takes any message.
func v3Module(_ url: String, functions: String = "example/*", egresses: [String] = testEgresses) -> String {
    "kind: io.statefun.endpoints.v2/http\nspec:\n  functions: \(functions)\n  urlPathTemplate: \(url)\n"
        + egresses.map { "---\nkind: io.statefun.playground.v1/egress\nspec:\n  id: \($0)\n" }.joined()
}

/// The `egresses:` of a 2.x module.yaml (under `module.spec`): the greeter's Kafka egress, and the others.
let v2TestEgresses = """
        egresses:
          - egress:
              meta: { type: statefun.kafka.io/generic-egress, id: example/greets }
          - egress:
              meta: { type: statefun.playground/egress, id: example/echoes }
    """

func names(_ names: [String], to type: String = "example/greeter") -> String {
    names.map { #"{"target": "\#(type)/\#($0)", "type": "io.statefun.types/string", "value": "\#($0)"}"# }
        .joined(separator: "\n")
}

func serve(_ register: (StatefulFunctions) throws -> Void) throws -> HTTPServer {
    let functions = StatefulFunctions()
    try register(functions)
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.eventLoopCount = 1
    let service = StatefunService(
        functions: functions, protocol: .v3, configuration: configuration, logger: Logger(label: "test"))
    try service.server.start()
    return service.server
}

/// A figure of statefun-local's summary line, such as the 5 in "5 batches".
/// The closing summary is the last line; progress lines may come before it.
func count(_ what: String, in stderr: String) -> Int {
    let summary = stderr.split(separator: "\n").last(where: { $0.contains(" egress records") }).map(String.init) ?? ""
    return Int(summary.components(separatedBy: " \(what)").first?.split(separator: " ").last ?? "") ?? -1
}

@Suite struct StatefunLocalTests {
    @Test func statePersistsAcrossBatchesAndMessagesAreRouted() async throws {
        let server = try serve(GreeterV3.register(in:))
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(statefunLocal, ["--module", module], input: names(Array(repeating: "ann", count: 12)))
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.egress.filter { $0.contains("example/out") }
        #expect(out.count == 12)
        #expect(out.last?.contains(#""value":"ann:12""#) == true, "\(out)")
        // The tenth greeting reached the auditor through the runtime's routing.
        #expect(result.egress.filter { $0.contains("example/audit-out") } == [
            #"{"egress":"example/audit-out","type":"io.statefun.types/string","value":"ann:1"}"#,
        ])
        // Two incomplete-context round trips (greeter, audit): each a request that is not a batch.
        #expect(result.stderr.contains("13 messages"), "\(result.stderr)")
        #expect(count("requests", in: result.stderr) - count("batches", in: result.stderr) == 2, "\(result.stderr)")
    }

    @Test func messagesArrivingDuringARequestAreBatched() async throws {
        let server = try serve { functions in
            try functions.bind("example/slow", String.self) { context, value in
                try await Task.sleep(for: .milliseconds(20))
                context.sendEgress(try EgressMessage("example/out", value: value))
            }
        }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let input = (1...40).map { #"{"target": "example/slow/one", "type": "io.statefun.types/string", "value": "m\#($0)"}"# }
        let result = try await run(statefunLocal, ["--module", module], input: input.joined(separator: "\n"))
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 0, "\(result.stderr)")
        // Per-address order is kept...
        #expect(result.egress.map { $0.components(separatedBy: "\"value\":\"").last ?? "" } == (1...40).map { "m\($0)\"}" })
        // ...and the messages that queued behind the first request went out together.
        let batches = count("batches", in: result.stderr)
        #expect(batches >= 1 && batches < 40, "\(result.stderr)")
    }

    @Test func delayedMessagesAndCancellationOnAVirtualClock() async throws {
        let server = try serve { functions in
            try functions.bind("example/timer", String.self) { context, command in
                let sink = Address(namespace: "example", type: "sink", id: "s")
                switch command {
                case "schedule":
                    try context.sendAfter(.seconds(3600), OutgoingMessage(to: sink, value: "kept"))
                    try context.sendAfter(.seconds(60), OutgoingMessage(to: sink, value: "cancelled"), cancellationToken: "t")
                case "cancel":
                    try context.cancelDelayedMessage("t")
                default: break
                }
            }
            try functions.bind("example/sink", String.self) { context, value in
                context.sendEgress(try EgressMessage("example/out", value: value))
            }
        }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let input = [
            #"{"target": "example/timer/t", "type": "io.statefun.types/string", "value": "schedule"}"#,
            #"{"target": "example/timer/t", "type": "io.statefun.types/string", "value": "cancel"}"#,
        ].joined(separator: "\n")
        let result = try await run(statefunLocal, ["--module", module, "--virtual-clock"], input: input)
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.egress == [#"{"egress":"example/out","type":"io.statefun.types/string","value":"kept"}"#])
        // The summary counts the delayed message delivered (the cancelled one is not).
        #expect(result.stderr.contains(" egress records, 1 delayed deliveries;"), "\(result.stderr)")
    }

    @Test func a500IsRetriedUntilTheFunctionSucceeds() async throws {
        let failures = Atomic<Int>(0)
        let server = try serve { functions in
            try functions.bind("example/flaky", String.self) { context, value in
                if failures.add(1, ordering: .relaxed).newValue <= 2 { throw Flaky() }
                context.sendEgress(try EgressMessage("example/out", value: value))
            }
        }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(
            statefunLocal, ["--module", module], input: #"{"target": "example/flaky/f", "type": "io.statefun.types/string", "value": "once"}"#)
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.egress == [#"{"egress":"example/out","type":"io.statefun.types/string","value":"once"}"#])
        #expect(result.stderr.contains("2 retries"), "\(result.stderr)")
    }

    struct Flaky: Error {}

    @Test func a404FailsTheJob() async throws {
        let server = try serve(GreeterV3.register(in:))
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/wrong-path"))
        let result = try await run(statefunLocal, ["--module", module], input: names(["ann"]))
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 1)
        // Said once: the job failed, at which address, why.
        #expect(result.stderr.contains(
            "statefun-local: job failed: example/greeter/ann: http://127.0.0.1:\(server.localPort)/wrong-path answered 404"),
            "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "job failed:").count == 2, "\(result.stderr)")
        #expect(result.egress.isEmpty)
    }

    @Test func aMessageToAFunctionNoEndpointServesFailsTheJob() async throws {
        let server = try serve { functions in
            try GreeterV3.register(in: functions)
            try functions.bind("example/forwarder", String.self) { context, text in
                context.send(try OutgoingMessage("other/nobody", id: "x", value: text))
            }
        }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let fromIngress = try await run(statefunLocal, ["--module", module], input: names(["x"], to: "other/nobody"))
        let fromFunction = try await run(statefunLocal, ["--module", module], input: names(["x"], to: "example/forwarder"))
        server.shutdown()
        await server.waitUntilStopped()
        for result in [fromIngress, fromFunction] {
            #expect(result.status == 1)
            #expect(result.stderr.contains(
                "Cannot find a provider for the function type other/nobody (message to other/nobody/x):"
                    + " no endpoint of module.yaml serves it"), "\(result.stderr)")
            #expect(result.egress.isEmpty)
        }
    }
}

@Suite struct IncompleteContextLoopTests {
    /// An endpoint that asks for a state however often it is given it would
    /// make the runtime loop: statefun-local fails the job instead.
    @Test func anEndpointAskingForStatesItWasGivenFailsTheJob() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/needy", states: [ValueSpec("x", Int32.self)]) { _, _ in }
        let target = Address(namespace: "example", type: "needy", id: "1")
        let ask = await RequestReplyHandler(functions, protocol: .v3).handle(
            RuntimeCodec.encode(BatchRequest(target: target, states: [], invocations: [(nil, try AnyMessage(packing: "hi"))]),
                                protocol: .v3)).body
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        let server = HTTPServer(configuration: configuration, routes: [
            Route(path: "/statefun") { _ in
                ServerResponse(status: 200, headers: [(name: "Content-Type", value: "application/octet-stream")], body: ask)
            },
        ])
        try server.start()
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(statefunLocal, ["--module", module], input: names(["1"], to: "example/needy"))
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 1)
        #expect(result.stderr.contains("asks for states the request carried: x"), "\(result.stderr)")
    }
}
