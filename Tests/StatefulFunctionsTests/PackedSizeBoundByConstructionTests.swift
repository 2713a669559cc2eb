@testable import StatefulFunctions
import CStatefunProtocol
import Testing

/// The arena packs a message into bytes sized by a bound it keeps itself, not
/// by protobuf-c's sizing pass: every message, string and bytes field its
/// builders make counts itself in the bound, and a field can only be filled
/// with bytes the arena made (`FieldBytes`). Each kind of effect, alone and all
/// together, with empty, short, long and multi-byte strings, under both
/// protocols (and the runtime's requests, and an incomplete context): the
/// bound covers the size protobuf-c computes for what was built.
@Suite("Packed-size bound by construction")
struct PackedSizeBoundByConstructionTests {
    enum Effect: CaseIterable {
        case modify, delete, send, delayed, delayedWithToken, cancellation, egress, all
    }

    static let texts = ["", "a", String(repeating: "é", count: 100), String(repeating: "x", count: 20_000)]

    static func exactSize<T>(_ message: UnsafeMutablePointer<T>) -> Int {
        message.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { protobuf_c_message_get_packed_size($0) }
    }

    static func context(_ effect: Effect, _ text: String, _ version: ProtocolVersion) throws -> Context {
        let typeName = "t/\(text)"
        let context = Context(
            address: Address(namespace: "n\(text)", type: "t", id: "i\(text)"),
            states: [StateValue(name: "s\(text)", value: AnyMessage(typeURL: typeName, value: [1]),
                                typeName: version == .v3 ? typeName : nil)],
            protocolVersion: version)
        let message = AnyMessage(typeURL: typeName, value: Array(text.utf8))
        let target = Address(namespace: "n\(text)", type: "t\(text)", id: "i\(text)")
        if effect == .modify || effect == .all { context["s\(text)"] = message }
        if effect == .delete { context["s\(text)"] = nil }
        if effect == .send || effect == .all { try context.send(OutgoingMessage(to: target, message: message)) }
        if effect == .delayed || effect == .all {
            try context.sendAfter(.milliseconds(Int64.max), OutgoingMessage(to: target, message: message))
        }
        if version == .v3 && (effect == .delayedWithToken || effect == .all) {
            try context.sendAfter(.nanoseconds(1), OutgoingMessage(to: target, message: message), cancellationToken: "c\(text)")
        }
        if version == .v3 && (effect == .cancellation || effect == .all) { try context.cancelDelayedMessage("c\(text)") }
        if effect == .egress || effect == .all { try context.sendEgress("e\(text)/x\(text)", message: message) }
        #expect(context.deferredError == nil)
        return context
    }

    @Test(arguments: Effect.allCases, texts.indices)
    func aReplyOfEachEffect(_ effect: Effect, _ textIndex: Int) throws {
        for version in [ProtocolVersion.v2, .v3] {
            let context = try Self.context(effect, Self.texts[textIndex], version)
            let arena = Arena(capacity: 256)
            let exact = switch version {
            case .v2: Self.exactSize(ReplyEncoder<SchemaV2>.build(context, in: arena))
            case .v3: Self.exactSize(ReplyEncoder<SchemaV3>.build(context, in: arena))
            }
            #expect(exact <= arena.packedSizeBound, "\(version) \(effect): \(exact) > \(arena.packedSizeBound)")
            // 2.x has no cancellation tokens: those effects are not made there.
            #expect(exact > 0 || (version == .v2 && (effect == .delayedWithToken || effect == .cancellation)))
        }
    }

    @Test(arguments: texts.indices)
    func aRuntimeRequest(_ textIndex: Int) throws {
        let text = Self.texts[textIndex]
        let message = AnyMessage(typeURL: "t/\(text)", value: Array(text.utf8))
        let request = BatchRequest(
            target: Address(namespace: "n\(text)", type: "t", id: "i\(text)"),
            states: [StateValue(name: "a\(text)", value: message, typeName: "t/\(text)"),
                     StateValue(name: "b\(text)", value: nil, typeName: "t/\(text)")],
            invocations: [(Address(namespace: "c", type: "c\(text)", id: text), message), (nil, message)])
        for version in [ProtocolVersion.v2, .v3] {
            let arena = Arena(capacity: 256)
            let exact = switch version {
            case .v2: Self.exactSize(RuntimeCodec.build(request, SchemaV2.self, in: arena))
            case .v3: Self.exactSize(RuntimeCodec.build(request, SchemaV3.self, in: arena))
            }
            #expect(exact <= arena.packedSizeBound, "\(version): \(exact) > \(arena.packedSizeBound)")
        }
    }

    @Test(arguments: texts.indices)
    func anIncompleteContext(_ textIndex: Int) throws {
        let text = Self.texts[textIndex]
        let arena = Arena(capacity: 256)
        let built = SchemaV3.incompleteContext(missing: [
            ValueSpec(name: "a\(text)", typeName: "t/\(text)"),
            ValueSpec(name: "b\(text)", typeName: "t/\(text)", expiration: .afterWrite(.milliseconds(Int64.max))),
            ValueSpec(name: "c\(text)", typeName: "t/\(text)", expiration: .afterInvoke(.nanoseconds(1))),
        ], in: arena)
        let exact = Self.exactSize(built)
        #expect(exact <= arena.packedSizeBound, "\(exact) > \(arena.packedSizeBound)")
    }

    /// Large values are lent to the reply while it is packed, not copied (up
    /// to `Arena.maxLent` of them; the rest are copied): every one arrives intact.
    @Test func largeValuesLentAndCopied() throws {
        let count = Arena.maxLent + 6
        let values = (0..<count).map { i in
            AnyMessage(typeURL: "t/large", value: (0..<(Arena.lentBytesThreshold + i)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) })
        }
        for version in [ProtocolVersion.v2, .v3] {
            let context = Context(address: Address(namespace: "n", type: "t", id: "i"), states: [], protocolVersion: version)
            for value in values { try context.send(OutgoingMessage(to: Address(namespace: "n", type: "t", id: "j"), message: value)) }
            let sent: [[UInt8]]
            switch version {
            case .v2:
                guard case .invocationResult(let result) = try FromFunction(serializedBytes: ReplyEncoder<SchemaV2>.encode(context)).response
                else { throw TestFailure("no result") }
                sent = result.outgoingMessages.map { [UInt8]($0.argument.value) }
            case .v3:
                guard case .invocationResult(let result) = try V3FromFunction(serializedBytes: ReplyEncoder<SchemaV3>.encode(context)).response
                else { throw TestFailure("no result") }
                sent = result.outgoingMessages.map { [UInt8]($0.argument.value) }
            }
            #expect(sent == values.map(\.value), "\(version)")
        }
    }
}
