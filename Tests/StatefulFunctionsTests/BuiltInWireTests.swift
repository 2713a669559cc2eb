@testable import StatefulFunctions
import Testing
import Foundation

/// The built-in types' own codec against protobuf-c's, byte for byte.
@Suite("Built-in types on the wire")
struct BuiltInWireTests {
    @Test("Int32 and Int64 are written as protobuf-c writes them and read back, at the edges and at random")
    func integers() throws {
        var ints: [Int32] = [0, 1, -1, 255, 256, .min, .max]
        ints += (0..<100).map { _ in .random(in: .min ... .max) }
        for value in ints {
            let packed = try value.packedBytes()
            #expect(packed == value.packedByProtobufC(), "\(value)")
            #expect(try Int32(packedBytes: packed) == value)
            #expect(try Int32.decodedByProtobufC(packed) == value)
        }
        var longs: [Int64] = [0, 1, -1, 1 << 32, .min, .max]
        longs += (0..<100).map { _ in .random(in: .min ... .max) }
        for value in longs {
            let packed = try value.packedBytes()
            #expect(packed == value.packedByProtobufC(), "\(value)")
            #expect(try Int64(packedBytes: packed) == value)
            #expect(try Int64.decodedByProtobufC(packed) == value)
        }
    }

    @Test("Bool is written as protobuf-c writes it and read back")
    func booleans() throws {
        for value in [false, true] {
            #expect(try value.packedBytes() == value.packedByProtobufC())
            #expect(try Bool(packedBytes: value.packedBytes()) == value)
        }
    }

    @Test("String is written as protobuf-c writes it (lengths across varint sizes, UTF-8) and read back")
    func strings() throws {
        var strings = ["", "a", "héllo 🙂", String(repeating: "x", count: 127), String(repeating: "y", count: 128)]
        strings += [String(repeating: "z", count: 300), String(repeating: "w", count: 16_384), String(repeating: "é", count: 70_000)]
        for value in strings {
            let packed = try value.packedBytes()
            #expect(packed == value.packedByProtobufC(), "\(value.utf8.count) bytes")
            #expect(try String(packedBytes: packed) == value)
            #expect(try String.decodedByProtobufC(packed) == value)
        }
        // A NUL is kept (protobuf-c's C strings end there).
        #expect(try String(packedBytes: "a\0b".packedBytes()) == "a\0b")
    }

    @Test("encodings other than the canonical one are read as protobuf does (last field wins, unknown fields skipped); broken ones throw")
    func otherEncodings() throws {
        #expect(try Int32(packedBytes: [0x0D, 1, 0, 0, 0, 0x0D, 2, 0, 0, 0]) == 2)
        #expect(try Int32(packedBytes: [0x0D, 7, 0, 0, 0, 0x10, 1]) == 7)
        #expect(try Int64(packedBytes: [0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0x18, 5]) == 1)
        #expect(try Bool(packedBytes: [0x08, 2]) == true)
        #expect(try Bool(packedBytes: [0x08, 1, 0x08, 0]) == false)
        #expect(try String(packedBytes: [0x0A, 1, 0x41, 0x10, 1]) == "A")
        #expect(try String(packedBytes: [0x0A, 1, 0x41, 0x0A, 1, 0x42]) == "B")
        #expect(try String(packedBytes: [0x0A, 0x81, 0x00, 0x41]) == "A")
        #expect(throws: StatefulFunctionsError.self) { try Int32(packedBytes: [0x0D, 1, 2]) }
        #expect(throws: StatefulFunctionsError.self) { try Int64(packedBytes: [0x09, 1]) }
        #expect(throws: StatefulFunctionsError.self) { try String(packedBytes: [0x0A, 5, 0x41]) }
        #expect(throws: StatefulFunctionsError.self) { try String(packedBytes: [0x0A]) }
        #expect(throws: StatefulFunctionsError.self) { try Bool(packedBytes: [0x08]) }
    }

    @Test("Kafka and Kinesis egress records are written as protobuf-c writes them (empty fields, long values, UTF-8) and read back")
    func egressRecords() throws {
        let texts = ["", "k", "héllo 🙂", String(repeating: "t", count: 200)]
        let values: [[UInt8]] = [[], [0], Array(0..<128), [UInt8](repeating: 7, count: 20_000)]
        for text in texts {
            for value in values {
                let kafka = KafkaProducerRecord(key: text, valueBytes: value, topic: "topic-" + text)
                #expect(try kafka.packedBytes() == kafka.packedByProtobufC(), "\(text) \(value.count)")
                #expect(try KafkaProducerRecord(packedBytes: kafka.packedBytes()) == kafka)
                let kinesis = KinesisEgressRecord(
                    partitionKey: "p" + text, valueBytes: value, stream: text, explicitHashKey: String(text.reversed()))
                #expect(try kinesis.packedBytes() == kinesis.packedByProtobufC(), "\(text) \(value.count)")
                #expect(try KinesisEgressRecord(packedBytes: kinesis.packedBytes()) == kinesis)
            }
        }
    }
}

/// Replies are packed into an array sized by the arena's bound, without
/// protobuf-c's sizing pass; debug builds check the bound against that pass
/// on every reply (`Arena.pack`). These replies reach for the bound's edges:
/// every kind of effect and field, empty and long strings and values, the
/// widest scalars.
@Suite("Replies packed without a sizing pass")
struct PackedSizeBoundTests {
    static let texts = ["", "a", String(repeating: "x", count: 127), String(repeating: "é", count: 200),
                        String(repeating: "z", count: 20_000)]

    static func context(_ version: ProtocolVersion) throws -> Context {
        let states = texts.enumerated().map { i, text in
            StateValue(name: "s\(i)\(text)", value: nil, typeName: version == .v3 ? "t/\(text)" : nil)
        }
        let context = Context(
            address: Address(namespace: "n", type: "t", id: "i"), states: states, protocolVersion: version)
        for (i, text) in texts.enumerated() {
            let message = AnyMessage(typeURL: "t/\(text)", value: Array(text.utf8))
            if i % 2 == 0 { context["s\(i)\(text)"] = message } else { context["s\(i)\(text)"] = nil }
            try context.send("n\(text)/t\(text)", id: "i\(text)", message: message)
            try context.sendAfter(.milliseconds(Int64.max), "n/t", id: "i\(text)", message: message)
            if version == .v3 {
                try context.sendAfter(.milliseconds(1), OutgoingMessage("n/t", id: "i", message: message),
                                      cancellationToken: "c\(text)")
                try context.cancelDelayedMessage("c\(text)")
            }
            try context.sendEgress("e\(text)/x\(text)", message: message)
        }
        #expect(context.deferredError == nil)
        return context
    }

    @Test func everyEffectOfA3xReply() throws {
        let reply = ReplyEncoder<SchemaV3>.encode(try Self.context(.v3))
        let decoded = try Io_Statefun_Sdk_Reqreply_FromFunction(serializedBytes: reply).invocationResult
        #expect(decoded.stateMutations.count == Self.texts.count)
        #expect(decoded.outgoingMessages.map(\.argument.value) == Self.texts.map { Data($0.utf8) })
        #expect(decoded.delayedInvocations.count == 3 * Self.texts.count)
        #expect(decoded.outgoingEgresses.map(\.egressType) == Self.texts.map { "x\($0)" })
    }

    @Test func everyEffectOfA2xReply() throws {
        let reply = ReplyEncoder<SchemaV2>.encode(try Self.context(.v2))
        let decoded = try FromFunction(serializedBytes: reply).invocationResult
        #expect(decoded.stateMutations.count == Self.texts.count)
        #expect(decoded.outgoingMessages.map(\.target.namespace) == Self.texts.map { "n\($0)" })
        #expect(decoded.delayedInvocations.map(\.delayInMs) == Self.texts.map { _ in Int64.max })
        #expect(decoded.outgoingEgresses.map(\.argument.value) == Self.texts.map { Data($0.utf8) })
    }

    @Test func anIncompleteContextWithEveryExpiration() throws {
        let specs = Self.texts.flatMap { text in
            [ValueSpec("a\(text)", String.self), ValueSpec("b\(text)", Int64.self, expiration: .afterWrite(.seconds(Int64.max / 1000))),
             ValueSpec("c\(text)", Int32.self, expiration: .afterInvoke(.milliseconds(1)))]
        }
        let reply = try #require(SchemaV3.incompleteContextReply(missing: specs))
        let decoded = try Io_Statefun_Sdk_Reqreply_FromFunction(serializedBytes: reply).incompleteInvocationContext
        #expect(decoded.missingValues.map(\.stateName) == specs.map(\.name))
        #expect(decoded.missingValues.map(\.typeTypename) == specs.map(\.typeName))
        // Every expiration, mode and duration, as the spec declared it.
        typealias Mode = Io_Statefun_Sdk_Reqreply_FromFunction.ExpirationSpec.ExpireMode
        let expected: [(Mode, Int64)] = Self.texts.flatMap { _ in
            [(Mode.none, Int64(0)), (Mode.afterWrite, Int64.max / 1000 * 1000), (Mode.afterInvoke, Int64(1))]
        }
        #expect(decoded.missingValues.map(\.expirationSpec.mode) == expected.map(\.0))
        #expect(decoded.missingValues.map(\.expirationSpec.expireAfterMillis) == expected.map(\.1))
    }
}
