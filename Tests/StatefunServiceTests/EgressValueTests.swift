import Foundation
import StatefulFunctions
import StatefunServer
import StatefunService
import Testing

/// The Swift twin of each case of Python/egress_values_v3.py: one egress message per case name.
let egressValueCases: [String: @Sendable () throws -> EgressMessage] = [
    "kafka-string": { try kafkaEgressMessage(typename: "e/kafka", topic: "greetings", key: "ann", value: "hello") },
    "kafka-unicode-no-key": { try kafkaEgressMessage(typename: "e/kafka", topic: "greetings", value: "Zoë 🚀") },
    "kafka-empty-string": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", key: "k", value: "") },
    "kafka-bytes": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", key: "k", value: [UInt8]([0, 1, 0xFF, 0x80])) },
    "kafka-int32-7": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", key: "k", value: Int32(7)) },
    "kafka-int32-minus-1": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: Int32(-1)) },
    "kafka-int32-min": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: Int32.min) },
    "kafka-double": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: 1.5) },
    "kafka-double-negative": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: -0.1) },
    "kafka-int64": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: Int64(-12_345_678_901)) },
    "kafka-float": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: Float(1.5)) },
    "kafka-value-type-int": {
        try kafkaEgressMessage(typename: "e/kafka", topic: "t", key: "my-key", value: Int32(1108), valueType: Int32.self)
    },
    "kafka-value-type-string": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: "hi", valueType: String.self) },
    "kafka-value-type-double": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", value: 2.5, valueType: Double.self) },
    "kafka-bytes-key": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", key: Array("bytes-key".utf8), value: "v") },
    "kafka-value-bytes": { try kafkaEgressMessage(typename: "e/kafka", topic: "t", key: "k", valueBytes: [9, 8, 7]) },
    "kinesis-string": { try kinesisEgressMessage(typename: "e/kinesis", stream: "stream", partitionKey: "pk", value: "hello") },
    "kinesis-bytes-hash-key": {
        try kinesisEgressMessage(
            typename: "e/kinesis", stream: "stream", partitionKey: "pk", explicitHashKey: "hash", value: [UInt8]([0, 0xFE]))
    },
    "kinesis-value-type-string": {
        try kinesisEgressMessage(
            typename: "e/kinesis", stream: "stream", partitionKey: "my-key", explicitHashKey: "my-explicit-hash-key",
            value: "hello world!", valueType: String.self)
    },
    "kinesis-bytes-partition-key": {
        try kinesisEgressMessage(typename: "e/kinesis", stream: "stream", partitionKey: Array("bytes-pk".utf8), value: "v")
    },
]

@Suite struct EgressValueTests {
    /// Kafka and Kinesis records as every official 3.x SDK writes them: strings as UTF-8, bytes as
    /// they are, numbers big-endian, an explicit value type in its own encoding.
    @Test func kafkaAndKinesisValuesAreTheOfficialPythonSDK3sBytes() async throws {
        let server = try startService(protocol: .v3) { functions in
            try functions.bind("test/egress-values", String.self) { context, name in
                guard let make = egressValueCases[name] else { throw StatefulFunctionsError.invalidArgument("no case \(name)") }
                context.sendEgress(try make())
            }
        }
        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/egress_values_v3.py").path
        let (status, output) = try await run(pythonV3, [script, "http://127.0.0.1:\(server.localPort)/statefun"])
        server.shutdown()
        await server.waitUntilStopped()
        #expect(status == 0, "\(output)")
        #expect(output.contains("egress values v3: \(egressValueCases.count) passed, 0 failed"), "\(output)")
    }

    /// What a consumer with Kafka's own deserializers reads, on the bytes alone.
    @Test func recordValuesAreWhatKafkasSerializersWrite() throws {
        func value(_ message: EgressMessage) throws -> [UInt8] { try message.message.unpack(KafkaProducerRecord.self).valueBytes }
        #expect(try value(kafkaEgressMessage(typename: "e/k", topic: "t", value: "hello")) == Array("hello".utf8))
        #expect(try value(kafkaEgressMessage(typename: "e/k", topic: "t", value: Int32(7))) == [0, 0, 0, 7])
        #expect(try value(kafkaEgressMessage(typename: "e/k", topic: "t", value: Int64(258))) == [0, 0, 0, 0, 0, 0, 1, 2])
        #expect(try value(kafkaEgressMessage(typename: "e/k", topic: "t", value: Float(1))) == [0x3F, 0x80, 0, 0])
        #expect(try value(kafkaEgressMessage(typename: "e/k", topic: "t", value: Double(1))) == [0x3F, 0xF0, 0, 0, 0, 0, 0, 0])
        #expect(try value(kafkaEgressMessage(typename: "e/k", topic: "t", value: Int32(7), valueType: Int32.self))
            == [0x0D, 7, 0, 0, 0])
        // A key of any bytes survives (the Java SDK's withKey(byte[])); the text view repairs it.
        let record = try kafkaEgressMessage(typename: "e/k", topic: "t", key: [UInt8]([0xFF, 0x41]), value: "v")
            .message.unpack(KafkaProducerRecord.self)
        #expect(record.keyBytes == [0xFF, 0x41])
        #expect(record.key == "\u{FFFD}A")
        // Every way of giving a key compiles and writes its bytes: text, an optional, nil, bytes.
        let optional: String? = "k"
        let keys = try [
            kafkaEgressMessage(typename: "e/k", topic: "t", key: "k", value: "v"),
            kafkaEgressMessage(typename: "e/k", topic: "t", key: optional, value: "v"),
            kafkaEgressMessage(typename: "e/k", topic: "t", key: [UInt8]("k".utf8), value: "v"),
            kafkaEgressMessage(typename: "e/k", topic: "t", key: nil, value: "v"),
            kafkaEgressMessage(typename: "e/k", topic: "t", value: "v"),
            kafkaEgressMessage(typename: "e/k", topic: "t", key: nil, value: "v", valueType: String.self),
            kafkaEgressMessage(typename: "e/k", topic: "t", key: [UInt8]("k".utf8), valueBytes: [1]),
        ].map { try $0.message.unpack(KafkaProducerRecord.self).keyBytes }
        #expect(keys == [[0x6B], [0x6B], [0x6B], [], [], [], [0x6B]])
        #expect(throws: StatefulFunctionsError.missingArgument("partition key")) {
            try kinesisEgressMessage(typename: "e/k", stream: "s", partitionKey: [UInt8](), value: "v")
        }
    }
}
