import Foundation
import Greeter
import GreeterV3
import Logging
import StatefulFunctions
import StatefunServer
import StatefunService
import Testing

/// One protocol by default (3.x), the other one argument away, and a clear answer
/// when the runtime speaks the other.
@Suite struct ProtocolChoiceTests {
    static let target = Address(namespace: "example", type: "echo", id: "1")

    static func echo() throws -> StatefulFunctions {
        let functions = StatefulFunctions()
        try functions.bind("example/echo") { context, message in try context.sendEgress("example/out", message: message) }
        return functions
    }

    /// A request of `version`'s shape carrying one string.
    static func request(_ version: ProtocolVersion) throws -> [UInt8] {
        RuntimeCodec.encode(
            BatchRequest(target: target, states: [], invocations: [(nil, try AnyMessage(packing: "hi"))]), protocol: version)
    }

    /// POSTs `body` with curl; the status and the body as text.
    static func post(_ body: [UInt8], to url: String) async throws -> (Int, String) {
        let file = NSTemporaryDirectory() + "protocol-choice-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(body).write(to: URL(fileURLWithPath: file))
        let (_, output) = try await run("/usr/bin/curl", [
            "-sS", "--data-binary", "@" + file, "-H", "Content-Type: application/octet-stream", "-w", "\n%{http_code}", url,
        ])
        let status = Int(output.split(separator: "\n").last ?? "") ?? -1
        return (status, output)
    }

    @Test func theServiceAndTheHandlerSpeak3xByDefault() async throws {
        #expect(RequestReplyHandler(try Self.echo()).protocolVersion == .v3)
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        let service = StatefunService(functions: try Self.echo(), configuration: configuration)
        try service.server.start()
        let url = "http://127.0.0.1:\(service.server.localPort)/statefun"
        let (v3Status, _) = try await Self.post(try Self.request(.v3), to: url)
        let (v2Status, v2Answer) = try await Self.post(try Self.request(.v2), to: url)
        service.server.shutdown()
        await service.server.waitUntilStopped()
        #expect(v3Status == 200)
        #expect(v2Status == 400)
        #expect(v2Answer.hasPrefix(
            "bad request: the request is a StateFun 2.x ToFunction, but this endpoint speaks the StateFun 3.x protocol:"
                + " serve the functions with `protocol: .v2` to answer a StateFun 2.x runtime\n"), "\(v2Answer)")
    }

    @Test func aRequestOfTheOtherProtocolIsA400SayingHowToSwitch() async throws {
        let v2 = RequestReplyHandler(try Self.echo(), protocol: .v2)
        let answer = await v2.handle(try Self.request(.v3))
        let text = String(decoding: answer.body, as: UTF8.self)
        #expect(answer.status == 400)
        #expect(text == "bad request: the request is a StateFun 3.x ToFunction, but this endpoint speaks the StateFun"
            + " 2.x protocol: serve the functions with `protocol: .v3` (the default) to answer a StateFun 3.x runtime")
        #expect(await v2.handle(try Self.request(.v2)).status == 200)

        // Bytes that are neither protocol's get no such hint.
        for handler in [v2, RequestReplyHandler(try Self.echo(), protocol: .v3)] {
            let garbage = await handler.handle(Array("not a protobuf".utf8))
            #expect(garbage.status == 400)
            #expect(!String(decoding: garbage.body, as: UTF8.self).contains("this endpoint speaks"))
        }
    }

    /// The examples' own requests, as each runtime sends them (states and all), to a
    /// handler of the other protocol.
    @Test func theGreetersRequestsToAHandlerOfTheOtherProtocol() async throws {
        let v3Functions = StatefulFunctions(), v2Functions = StatefulFunctions()
        try GreeterV3.register(in: v3Functions)
        try Greeter.register(in: v2Functions)
        let v3Greeter = Address(namespace: "example", type: "greeter", id: "ann")
        let v3Request = RuntimeCodec.encode(BatchRequest(
            target: v3Greeter, states: [StateValue(name: "seen", value: try AnyMessage(packing: Int32(3)), typeName: Int32.typeName)],
            invocations: [(nil, try AnyMessage(packing: "ann")), (nil, try AnyMessage(packing: "ann"))]), protocol: .v3)
        let v2Request = RuntimeCodec.encode(BatchRequest(
            target: v3Greeter, states: [StateValue(name: "seen_count", value: nil, typeName: nil)],
            invocations: [(nil, try AnyMessage(packing: Example_GreetRequest.with { $0.name = "ann" }))]), protocol: .v2)
        let v2Handler = RequestReplyHandler(v2Functions, protocol: .v2)
        let v3Handler = RequestReplyHandler(v3Functions)
        let toV2 = await v2Handler.handle(v3Request)
        let toV3 = await v3Handler.handle(v2Request)
        #expect(toV2.status == 400 && toV3.status == 400)
        #expect(String(decoding: toV2.body, as: UTF8.self).contains("is a StateFun 3.x ToFunction"))
        #expect(String(decoding: toV3.body, as: UTF8.self).contains("is a StateFun 2.x ToFunction"))
        // Each to a handler of its own protocol: answered.
        #expect(await v3Handler.handle(v3Request).status == 200)
        #expect(await RequestReplyHandler(v2Functions, protocol: .v2).handle(v2Request).status == 200)
    }

    @Test func valueSpecsBoundFor2xLogAWarningAtStartUp() throws {
        let functions = StatefulFunctions()
        try functions.bind("example/counter", states: [ValueSpec("seen", Int32.self)]) { _, _ in }
        try functions.bind("example/plain") { _, _ in }
        let expected = "value specs are bound for example/counter but the handler speaks the StateFun 2.x protocol"

        let serviceLines = LineStore()
        _ = StatefunService(
            functions: functions, protocol: .v2, logger: Logger(label: "test") { _ in RecordingHandler(store: serviceLines) })
        #expect(serviceLines.lines.filter { $0.hasPrefix("warning \(expected)") }.count == 1, "\(serviceLines.lines)")

        let handlerLines = LineStore()
        _ = RequestReplyHandler(
            functions, protocol: .v2, logger: Logger(label: "test") { _ in RecordingHandler(store: handlerLines) })
        #expect(handlerLines.lines.filter { $0.hasPrefix("warning \(expected)") }.count == 1, "\(handlerLines.lines)")

        // Under 3.x they are used: nothing to say.
        let quiet = LineStore()
        _ = StatefunService(functions: functions, logger: Logger(label: "test") { _ in RecordingHandler(store: quiet) })
        _ = RequestReplyHandler(functions, logger: Logger(label: "test") { _ in RecordingHandler(store: quiet) })
        #expect(!quiet.lines.contains { $0.contains("value specs") }, "\(quiet.lines)")
    }
}
