import Foundation
import StatefulFunctions
import StatefunServer
import Testing

/// statefun-local fails the job where the StateFun runtime fails it.
@Suite struct JobFailureTests {
    /// A function that sends what its command says.
    static func sender() throws -> HTTPServerHandle {
        HTTPServerHandle(try serve { functions in
            try functions.bind("example/sender", String.self) { context, command in
                switch command {
                case "string": context.sendEgress(try EgressMessage("example/out", value: "v"))
                case "kafka": context.sendEgress(try kafkaEgressMessage(typename: "example/out", topic: "t", key: "k", value: "v"))
                case "twice":
                    let target = try OutgoingMessage("example/sender", id: "other", value: "none")
                    try context.sendAfter(.seconds(5), target, cancellationToken: "tok")
                    try context.sendAfter(.seconds(9), target, cancellationToken: "tok")
                case "replace":
                    let target = try OutgoingMessage("example/sender", id: "other", value: "string")
                    try context.sendAfter(.seconds(5), target, cancellationToken: "tok")
                    try context.cancelDelayedMessage("tok")
                    try context.sendAfter(.seconds(9), target, cancellationToken: "tok")
                default: break
                }
            }
        })
    }

    func line(_ command: String) -> String {
        #"{"target": "example/sender/s", "type": "io.statefun.types/string", "value": "\#(command)"}"#
    }

    @Test func aMessageToAnEgressModuleYamlDoesNotDeclareFailsTheJob() async throws {
        let server = try Self.sender()
        defer { server.stop() }
        let module = try moduleFile(v3Module(server.url, egresses: []))
        let result = try await run(statefunLocal, ["--module", module], input: line("string"))
        #expect(result.status == 1)
        #expect(result.stderr.contains(
            "example/sender/s sent to an egress the runtime refuses: Unknown egress example/out: module.yaml does not declare it"),
            "\(result.stderr)")
        #expect(result.egress.isEmpty)
    }

    @Test func aValueTheKafkaEgressCannotTakeFailsTheJob() async throws {
        let server = try Self.sender()
        defer { server.stop() }
        let module = try moduleFile(
            v3Module(server.url, egresses: []) + "---\nkind: io.statefun.kafka.v1/egress\nspec:\n  id: example/out\n")
        let refused = try await run(statefunLocal, ["--module", module], input: line("string"))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains(
            "egress example/out (io.statefun.kafka.v1/egress) takes only \(kafkaProducerRecordTypeName), not io.statefun.types/string"),
            "\(refused.stderr)")
        #expect(refused.egress.isEmpty)
        // A Kafka record is taken, and printed with its value as text.
        let taken = try await run(statefunLocal, ["--module", module], input: line("kafka"))
        #expect(taken.status == 0, "\(taken.stderr)")
        #expect(taken.egress.count == 1)
        #expect(taken.egress.first?.contains(#""topic":"t""#) == true, "\(taken.stdout)")
    }

    @Test func twoPendingDelayedMessagesWithOneTokenFailTheJob() async throws {
        let server = try Self.sender()
        defer { server.stop() }
        let module = try moduleFile(v3Module(server.url))
        let twice = try await run(statefunLocal, ["--module", module, "--virtual-clock"], input: line("twice"))
        #expect(twice.status == 1)
        #expect(twice.stderr.contains(
            "example/sender/s sent a delayed message with cancellation token 'tok' while a message with that token is pending"),
            "\(twice.stderr)")
        // Cancelled first, the token may be used again: the one left is delivered.
        let replaced = try await run(statefunLocal, ["--module", module, "--virtual-clock"], input: line("replace"))
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.egress == [#"{"egress":"example/out","type":"io.statefun.types/string","value":"v"}"#])
    }
}

/// A served endpoint and its URL, stopped at the end of a test.
struct HTTPServerHandle {
    let server: HTTPServer
    init(_ server: HTTPServer) { self.server = server }
    var url: String { "http://127.0.0.1:\(server.localPort)/statefun" }
    func stop() {
        server.shutdown()
    }
}
