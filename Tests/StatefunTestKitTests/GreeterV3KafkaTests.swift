import GreeterV3
import StatefulFunctions
import StatefunTestKit
import Testing

/// greeter-v3 in Kafka mode (`--kafka`, `GREETER_KAFKA=1`): the texts of the strings mode,
/// sent as Kafka records.
@Suite struct GreeterV3KafkaTests {
    let ann = Address(namespace: "example", type: "greeter", id: "ann")

    func kafkaRuntime() throws -> TestRuntime {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions, mode: .kafka)
        return TestRuntime(functions)
    }

    /// (topic, key, value as text) of each record sent to `egress`, which must all be 3.x Kafka records.
    func records(_ runtime: TestRuntime, _ egress: String) throws -> [[String]] {
        #expect(try runtime.egress(egress).allSatisfy { $0.typeURL == kafkaProducerRecordTypeName })
        return try runtime.egress(egress, as: KafkaProducerRecord.self).map { record in
            [record.topic, record.key, String(decoding: record.valueBytes, as: UTF8.self)]
        }
    }

    @Test func greetingsAndAuditsGoOutAsKafkaRecordsWithTheStringModesTexts() async throws {
        let runtime = try kafkaRuntime()
        for _ in 1...10 { try await runtime.send(PlainText("ann"), to: ann) }
        try await runtime.send("ann", to: ann)   // a built-in string is still taken
        #expect(try records(runtime, "example/out") == (1...11).map { ["greetings", "ann", "ann:\($0)"] })
        #expect(try records(runtime, "example/audit-out") == [["audits", "ann", "ann:1"]])
        #expect(try runtime.state(of: ann, "seen", as: Int32.self) == 11)

        // The strings mode sends the same texts as built-in strings.
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let strings = TestRuntime(functions)
        for _ in 1...10 { try await strings.send("ann", to: ann) }
        #expect(try strings.egress("example/out", as: String.self) == (1...10).map { "ann:\($0)" })
        #expect(try strings.egress("example/audit-out", as: String.self) == ["ann:1"])
    }

    @Test func theRecordValueIsTheTextsUTF8AndTheKeyTheName() async throws {
        let runtime = try kafkaRuntime()
        let name = "Zoë 🙂"
        try await runtime.send(PlainText(name), to: Address(namespace: "example", type: "greeter", id: name))
        // The value is the text's UTF-8 as a Kafka StringSerializer writes it, not a built-in string's wrapper.
        let record = try #require(try runtime.egress("example/out", as: KafkaProducerRecord.self).first)
        #expect(record == KafkaProducerRecord(key: name, valueBytes: Array("\(name):1".utf8), topic: "greetings"))
    }

    @Test func plainTextIsRawUTF8AndOnlyTheKafkaModeTakesIt() async throws {
        #expect(PlainText.typeName == "example/plain-text")
        #expect(try PlainText(packedBytes: Array("ann".utf8)) == PlainText("ann"))
        #expect(try PlainText("ann").packedBytes() == Array("ann".utf8))
        #expect(throws: StatefulFunctionsError.self) { try PlainText(packedBytes: [0x61, 0xFF]) }

        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let strings = TestRuntime(functions)
        await #expect(throws: TestRuntimeError.self) { try await strings.send(PlainText("ann"), to: ann) }
    }
}
