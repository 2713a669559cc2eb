@testable import StatefulFunctions
import Foundation
import SwiftProtobuf
import Testing

/// Each protocol's field mapping (`SchemaV2`, `SchemaV3`) against swift-protobuf's
/// reading of the official schemas: a request written by swift-protobuf is read
/// field by field by the one request decoder, and a reply written by the one
/// reply encoder lands in the fields swift-protobuf reads.
@Suite("Wire schemas: each protocol's field mapping")
struct WireSchemaTests {
    static let target = Address(namespace: "example", type: "mapped", id: "t-1")
    static let caller = Address(namespace: "caller-ns", type: "caller-type", id: "c-9")
    static let seen = AnyMessage(typeURL: "t/seen", value: [1, 2, 3])
    static let first = AnyMessage(typeURL: "t/first", value: [4, 5])
    static let second = AnyMessage(typeURL: "t/second", value: [6])

    static func functions() throws -> FunctionTable {
        let functions = StatefulFunctions()
        try functions.bind("example/mapped") { _, _ in }
        return FunctionTable(functions.snapshot)
    }

    static func check(_ batch: InvocationBatch) throws {
        try withExtendedLifetime(batch) {
            #expect(batch.target == target)
            #expect(batch.entry != nil)
            #expect(batch.states.map(\.name) == ["seen", "none"])
            #expect(batch.states.map(\.value) == [seen, nil])
            try #require(batch.invocations.count == 2)
            #expect(batch.invocations.map(\.caller) == [caller, nil])
            #expect(batch.invocations.map(\.argument) == [first, second])
        }
    }

    @Test func a2xRequestIsReadFieldByField() throws {
        let body = try toFunction(
            target: Self.target, states: [("seen", Self.seen), ("none", nil)],
            invocations: [(Self.caller, Self.first), (nil, Self.second)])
        try Self.check(try RequestDecoder<SchemaV2>.decode(body, functions: try Self.functions()))
    }

    @Test func a3xRequestIsReadFieldByField() throws {
        let body = try v3Request(
            target: Self.target, states: [("seen", typedValue(Self.seen)), ("none", typedValue(nil, typeName: "t/none"))],
            invocations: [(Self.caller, Self.first), (nil, Self.second)])
        try Self.check(try RequestDecoder<SchemaV3>.decode(body, functions: try Self.functions()))
    }

    /// A context with one effect of every kind the protocol has.
    static func context(_ version: ProtocolVersion) throws -> Context {
        let context = Context(
            address: target,
            states: [StateValue(name: "kept", value: nil, typeName: version == .v3 ? "t/kept" : nil),
                     StateValue(name: "gone", value: seen)],
            protocolVersion: version)
        context["kept"] = AnyMessage(typeURL: "t/kept", value: [7])
        context["gone"] = nil
        try context.send(OutgoingMessage(to: caller, message: first))
        try context.sendAfter(.milliseconds(1500), OutgoingMessage(to: caller, message: second),
                              cancellationToken: version == .v3 ? "token" : nil)
        if version == .v3 { try context.cancelDelayedMessage("other") }
        try context.sendEgress("egress-ns/egress-type", message: seen)
        #expect(context.deferredError == nil)
        return context
    }

    @Test func a2xReplyIsWrittenFieldByField() throws {
        let reply = ReplyEncoder<SchemaV2>.encode(try Self.context(.v2))
        let decoded = try FromFunction(serializedBytes: reply)
        guard case .invocationResult(let result) = decoded.response else { throw TestFailure("no invocation result") }
        try #require(result.stateMutations.count == 2)
        #expect(result.stateMutations.map(\.stateName) == ["kept", "gone"])
        #expect(result.stateMutations.map(\.mutationType) == [.modify, .delete])
        let kept = try Google_Protobuf_Any(serializedBytes: result.stateMutations[0].stateValue)
        #expect(kept.typeURL == "t/kept" && kept.value == Data([7]))
        #expect(result.stateMutations[1].stateValue.isEmpty)
        try #require(result.outgoingMessages.count == 1)
        #expect(result.outgoingMessages[0].target == pbAddress(Self.caller))
        #expect(result.outgoingMessages[0].argument.typeURL == "t/first" && result.outgoingMessages[0].argument.value == Data([4, 5]))
        try #require(result.delayedInvocations.count == 1)
        #expect(result.delayedInvocations[0].delayInMs == 1500)
        #expect(result.delayedInvocations[0].target == pbAddress(Self.caller))
        #expect(result.delayedInvocations[0].argument.typeURL == "t/second")
        try #require(result.outgoingEgresses.count == 1)
        #expect(result.outgoingEgresses[0].egressNamespace == "egress-ns" && result.outgoingEgresses[0].egressType == "egress-type")
        #expect(result.outgoingEgresses[0].argument.typeURL == "t/seen" && result.outgoingEgresses[0].argument.value == Data([1, 2, 3]))
    }

    @Test func a3xReplyIsWrittenFieldByField() throws {
        let reply = ReplyEncoder<SchemaV3>.encode(try Self.context(.v3))
        let decoded = try V3FromFunction(serializedBytes: reply)
        guard case .invocationResult(let result) = decoded.response else { throw TestFailure("no invocation result") }
        try #require(result.stateMutations.count == 2)
        #expect(result.stateMutations.map(\.stateName) == ["kept", "gone"])
        #expect(result.stateMutations.map(\.mutationType) == [.modify, .delete])
        #expect(result.stateMutations[0].stateValue == typedValue(AnyMessage(typeURL: "t/kept", value: [7])))
        #expect(!result.stateMutations[1].hasStateValue)
        try #require(result.outgoingMessages.count == 1)
        #expect(result.outgoingMessages[0].target.namespace == "caller-ns")
        #expect(result.outgoingMessages[0].target.type == "caller-type" && result.outgoingMessages[0].target.id == "c-9")
        #expect(result.outgoingMessages[0].argument == typedValue(Self.first))
        try #require(result.delayedInvocations.count == 2)
        let delayed = result.delayedInvocations[0], cancellation = result.delayedInvocations[1]
        #expect(delayed.delayInMs == 1500 && !delayed.isCancellationRequest && delayed.cancellationToken == "token")
        #expect(delayed.target.id == "c-9" && delayed.argument == typedValue(Self.second))
        #expect(cancellation.isCancellationRequest && cancellation.cancellationToken == "other")
        #expect(!cancellation.hasTarget && !cancellation.hasArgument && cancellation.delayInMs == 0)
        try #require(result.outgoingEgresses.count == 1)
        #expect(result.outgoingEgresses[0].egressNamespace == "egress-ns" && result.outgoingEgresses[0].egressType == "egress-type")
        #expect(result.outgoingEgresses[0].argument == typedValue(Self.seen))
    }

    @Test func anIncompleteContextIsWrittenFieldByField() throws {
        let reply = try #require(SchemaV3.incompleteContextReply(missing: [
            ValueSpec(name: "a", typeName: "t/a"), ValueSpec(name: "b", typeName: "t/b", expiration: .afterInvoke(.seconds(2))),
        ]))
        let decoded = try V3FromFunction(serializedBytes: reply)
        guard case .incompleteInvocationContext(let incomplete) = decoded.response else { throw TestFailure("not incomplete") }
        #expect(incomplete.missingValues.map(\.stateName) == ["a", "b"])
        #expect(incomplete.missingValues.map(\.typeTypename) == ["t/a", "t/b"])
        #expect(incomplete.missingValues.map(\.expirationSpec.mode) == [.none, .afterInvoke])
        #expect(incomplete.missingValues.map(\.expirationSpec.expireAfterMillis) == [0, 2000])
        #expect(SchemaV2.incompleteContextReply(missing: [ValueSpec(name: "a", typeName: "t/a")]) == nil)
    }
}
