import Greeter
import StatefulFunctions
import StatefulFunctionsProtobuf
import SwiftProtobuf
import Testing

@Suite struct AnyMessageTests {
    @Test func packsWithTypeURLAndBytes() throws {
        let request = Example_GreetRequest.with { $0.name = "Ann" }
        let any = try AnyMessage.pack(request)
        #expect(any.typeURL == "type.googleapis.com/example.GreetRequest")
        #expect(any.value == (try request.serializedBytes()))
        #expect(any.is(Example_GreetRequest.self))
        #expect(!any.is(Example_GreetResponse.self))
        #expect(try any.unpack(Example_GreetRequest.self) == request)
    }

    @Test func matchesOnMessageNameWhateverThePrefix() throws {
        // protobuf's Any.Is compares only what follows the last '/'.
        let any = AnyMessage(typeURL: "my.company/types/example.GreetRequest", value: [])
        #expect(any.is(Example_GreetRequest.self))
        #expect(any.messageName == "example.GreetRequest")
    }

    @Test func builtInAndCustomTypeNamesMatchExactly() throws {
        #expect(AnyMessage(typeURL: "io.statefun.types/int", value: []).is(Int32.self))
        #expect(!AnyMessage(typeURL: "other/int", value: []).is(Int32.self))
        #expect(!AnyMessage(typeURL: "io.statefun.types/long", value: []).is(Int32.self))
    }

    @Test func unpackingAnotherTypeFails() throws {
        let any = try AnyMessage.pack(Example_SeenCount.with { $0.seen = 3 })
        #expect(throws: StatefulFunctionsError.typeMismatch(
            typeURL: any.typeURL, expected: Example_GreetRequest.typeName)) {
            try any.unpack(Example_GreetRequest.self)
        }
    }

    @Test func serializesAsGoogleProtobufAny() throws {
        let any = try AnyMessage.pack(Example_GreetRequest.with { $0.name = "Ann" })
        let bytes = try any.packedBytes()
        let decoded = try Google_Protobuf_Any(serializedBytes: bytes)
        #expect(AnyMessage(decoded) == any)
        #expect(try AnyMessage(packedBytes: bytes) == any)
        #expect(throws: StatefulFunctionsError.self) { try AnyMessage(packedBytes: [0xff, 0xff, 0xff]) }
    }

    @Test func kafkaRecordMatchesTheSchema() throws {
        let value = Example_GreetResponse.with { $0.name = "Ann"; $0.greeting = "Hello Ann" }
        let record = try kafkaEgressRecord(topic: "greetings", key: "Ann", value: value)
        let decoded = try PBKafkaRecord(serializedBytes: try record.packedBytes())
        #expect(decoded.topic == "greetings")
        #expect(decoded.key == "Ann")
        #expect(decoded.valueBytes == (try value.serializedData()))
        #expect(try KafkaProducerRecord(packedBytes: try record.packedBytes()) == record)
        #expect(KafkaProducerRecord.typeName
            == "type.googleapis.com/org.apache.flink.statefun.flink.io.KafkaProducerRecord")
        #expect(try kafkaEgressRecord(topic: "t", value: value).key == "")
        #expect(throws: StatefulFunctionsError.missingArgument("destination Kafka topic")) {
            try kafkaEgressRecord(topic: "", key: "k", value: value)
        }
    }

    @Test func kinesisRecordMatchesTheSchema() throws {
        let value = Example_Ping.with { $0.text = "hi" }
        let record = try kinesisEgressRecord(stream: "s", partitionKey: "p", explicitHashKey: "h", value: value)
        let decoded = try PBKinesisRecord(serializedBytes: try record.packedBytes())
        #expect(decoded.stream == "s")
        #expect(decoded.partitionKey == "p")
        #expect(decoded.explicitHashKey == "h")
        #expect(decoded.valueBytes == (try value.serializedData()))
        #expect(try kinesisEgressRecord(stream: "s", partitionKey: "p", value: value).explicitHashKey == "")
        #expect(throws: StatefulFunctionsError.missingArgument("destination Kinesis stream")) {
            try kinesisEgressRecord(stream: "", partitionKey: "p", value: value)
        }
        #expect(throws: StatefulFunctionsError.missingArgument("partition key")) {
            try kinesisEgressRecord(stream: "s", partitionKey: "", value: value)
        }
    }

    /// A decoded request's message is read where it lies (a buffer), not from
    /// an array (lent as a `RawSpan`): both forms give the same value, or both fail.
    @Test(arguments: [
        [], [0x0A, 0x00], Array("\n\u{3}Ann".utf8), [0x0A, 0x02, 0xC3, 0xA9],
        [0x0A, 0x01, 0x61, 0x0A, 0x01, 0x62],  // the field twice: protobuf-c's path, the last wins
        [0x0A, 0x05, 0x61],  // a length past the end
        [0x12, 0x01, 0x61],  // another field only
    ] as [[UInt8]])
    func stringsDecodeAlikeFromAnArrayAndFromABuffer(_ bytes: [UInt8]) throws {
        let fromArray = Result { try String(packedBytes: bytes) }
        let fromBuffer = Result { try bytes.withUnsafeBytes { try String(packedBytes: $0.bytes) } }
        switch (fromArray, fromBuffer) {
        case let (.success(a), .success(b)): #expect(a == b)
        case (.failure, .failure): break
        default: Issue.record("\(bytes): \(fromArray) from an array, \(fromBuffer) from a buffer")
        }
        let long = String(repeating: "é", count: 300)
        let packed = try long.packedBytes()
        #expect(try packed.withUnsafeBytes { try String(packedBytes: $0.bytes) } == long)
    }

    @Test func protobufMessagesAndOtherTypesDecodeFromABuffer() throws {
        let request = Example_GreetRequest.with { $0.name = "Ann" }
        let bytes = try request.packedBytes()
        #expect(try bytes.withUnsafeBytes { try Example_GreetRequest(packedBytes: $0.bytes) } == request)
        #expect(throws: (any Error).self) {
            try [UInt8]([0x0A, 0x09, 0x41]).withUnsafeBytes { try Example_GreetRequest(packedBytes: $0.bytes) }
        }
        // A type with only the array form gets the span form by a copy.
        let point = try Point(x: 3).packedBytes()
        #expect(try point.withUnsafeBytes { try Point(packedBytes: $0.bytes) } == Point(x: 3))
    }

    struct Point: JSONMessage, Equatable {
        static let typeName = "test/point"
        var x: Int
    }
}
