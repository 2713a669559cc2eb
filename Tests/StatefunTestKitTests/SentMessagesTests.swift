import GreeterV3
import StatefulFunctions
import StatefunTestKit
import Testing

/// What functions sent, as Java's `TestContext` records it.
@Suite struct SentMessagesTests {
    @Test func everyMessageIsRecordedWithSenderTargetAndDelay() async throws {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let greeter = Address(namespace: "example", type: "greeter", id: "ann")
        let auditor = Address(namespace: "example", type: "audit", id: "ann")
        let nobody = Address(namespace: "example", type: "nobody", id: "n")
        try functions.bind("example/planner", String.self) { context, text in
            context.send(try OutgoingMessage(to: greeter, value: text))
            context.send(try OutgoingMessage(to: nobody, value: "lost"))
            try context.sendAfter(.seconds(5), OutgoingMessage(to: greeter, value: "later"), cancellationToken: "tok")
            try context.sendAfter(.milliseconds(1500), OutgoingMessage(to: greeter, value: "soon"))
        }
        let runtime = TestRuntime(functions)
        let planner = Address(namespace: "example", type: "planner", id: "p")
        try await runtime.send("ann", to: planner)
        #expect(runtime.sentMessages == [
            .init(sender: planner, target: greeter, message: try AnyMessage(packing: "ann"), delay: nil, cancellationToken: nil),
            .init(sender: planner, target: nobody, message: try AnyMessage(packing: "lost"), delay: nil, cancellationToken: nil),
            .init(sender: planner, target: greeter, message: try AnyMessage(packing: "later"), delay: .seconds(5),
                  cancellationToken: "tok"),
            .init(sender: planner, target: greeter, message: try AnyMessage(packing: "soon"), delay: .milliseconds(1500),
                  cancellationToken: nil),
        ])
        // Messages between bound functions are recorded too: the greeter's tenth tells the auditor.
        for _ in 1...9 { try await runtime.send("ann", to: greeter) }
        let toAuditor = runtime.sentMessages.filter { $0.target == auditor }
        #expect(toAuditor.map(\.sender) == [greeter])
        #expect(toAuditor.first?.message.as(String.self) == "ann reached 10")
        // A batch that fails records nothing.
        try functions.bind("example/failing", String.self) { context, _ in
            context.send(try OutgoingMessage(to: greeter, value: "never"))
            throw Failure()
        }
        let failing = TestRuntime(functions)
        await #expect(throws: TestRuntimeError.self) { try await failing.send("x", to: Address(namespace: "example", type: "failing", id: "f")) }
        #expect(failing.sentMessages.isEmpty)
    }

    struct Failure: Error {}

    /// The 3.x records read back as the public record types (they carry the 3.x type
    /// names); the 2.x ones too (TestRuntimeTests.v2FunctionsSeeTheStatesModuleYamlDeclares).
    @Test func threeXKafkaAndKinesisRecordsReadBackAsRecords() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/sender", String.self) { context, text in
            context.sendEgress(try kafkaEgressMessage(typename: "example/kafka", topic: "t", key: text, value: text))
            context.sendEgress(try kinesisEgressMessage(
                typename: "example/kinesis", stream: "s", partitionKey: text, explicitHashKey: "h", value: text))
        }
        let runtime = TestRuntime(functions)
        try await runtime.send("ann", to: Address(namespace: "example", type: "sender", id: "1"))
        #expect(try runtime.egress("example/kafka").map(\.typeURL) == [kafkaProducerRecordTypeName])
        #expect(try runtime.egress("example/kafka", as: KafkaProducerRecord.self)
            == [KafkaProducerRecord(key: "ann", valueBytes: Array("ann".utf8), topic: "t")])
        #expect(try runtime.egress("example/kinesis", as: KinesisEgressRecord.self)
            == [KinesisEgressRecord(partitionKey: "ann", valueBytes: Array("ann".utf8), stream: "s", explicitHashKey: "h")])
        // Each record type takes its own two names only.
        let kafka = try #require(try runtime.egress("example/kafka").first)
        #expect(kafka.is(KafkaProducerRecord.self) && !kafka.is(KinesisEgressRecord.self))
        #expect(AnyMessage(typeURL: KafkaProducerRecord.typeName, value: []).is(KafkaProducerRecord.self))
        #expect(!AnyMessage(typeURL: "io.statefun.sdk.egress/KafkaProducerRecord", value: []).is(KinesisEgressRecord.self))
    }
}
