import Greeter
import GreeterV3
import StatefulFunctions
import StatefulFunctionsProtobuf
import Testing

/// The runtime side of the codec, round-tripped through the handler.
@Suite struct RuntimeCodecTests {
    @Test func v2RequestsAndRepliesRoundTrip() async throws {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        let handler = RequestReplyHandler(functions, protocol: .v2)
        let request = BatchRequest(
            target: greeterAddress,
            states: [StateValue(name: "seen_count", value: try any(Example_SeenCount.with { $0.seen = 2 }), typeName: nil)],
            invocations: [(callerAddress, try greet("ann")), (nil, try greet("ann"))])
        let response = await handler.handle(RuntimeCodec.encode(request, protocol: .v2))
        guard case .completed(let effects) = try RuntimeCodec.decode(response.body, protocol: .v2) else {
            Issue.record("expected effects")
            return
        }
        #expect(effects.mutations.map(\.name) == ["seen_count"])
        #expect(try (try element(effects.mutations, 0)).value?.unpack(Example_SeenCount.self).seen == 4)
        #expect(effects.outgoing.map(\.target) == [callerAddress])
        #expect(effects.egress.map(\.egress.description) == ["example/greets", "example/greets"])
        let record = try (try element(effects.egress, 1)).message.unpack(KafkaProducerRecord.self)
        #expect(try Example_GreetResponse(packedBytes: record.valueBytes).greeting == "Hello for the 4th time")
    }

    @Test func v3IncompleteContextThenEffects() async throws {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let handler = RequestReplyHandler(functions, protocol: .v3)
        let ann = Address(namespace: "example", type: "greeter", id: "ann")
        let bare = BatchRequest(target: ann, states: [], invocations: [(nil, try any("ann"))])
        let first = await handler.handle(RuntimeCodec.encode(bare, protocol: .v3))
        guard case .incomplete(let specs) = try RuntimeCodec.decode(first.body, protocol: .v3) else {
            Issue.record("expected an incomplete context")
            return
        }
        #expect(specs == [ValueSpec("seen", Int32.self)])

        let full = BatchRequest(
            target: ann, states: [StateValue(name: "seen", value: try any(Int32(9)), typeName: Int32.typeName)],
            invocations: [(nil, try any("ann"))])
        let second = await handler.handle(RuntimeCodec.encode(full, protocol: .v3))
        guard case .completed(let effects) = try RuntimeCodec.decode(second.body, protocol: .v3) else {
            Issue.record("expected effects")
            return
        }
        #expect(effects.mutations.map(\.name) == ["seen"])
        #expect((try element(effects.mutations, 0)).value?.as(Int32.self) == 10)
        #expect(effects.egress.map { $0.message.as(String.self) } == ["ann:10"])
        #expect(effects.outgoing.map { $0.message.as(String.self) } == ["ann reached 10"])
    }

    @Test func aStateValueThatIsNotAnAnyIsNamed() throws {
        var mutation = FromFunction.PersistedValueMutation()
        mutation.mutationType = .modify
        mutation.stateName = "seen_count"
        mutation.stateValue = .init([0x0a, 0x50])  // a truncated Any
        var reply = FromFunction()
        reply.invocationResult.stateMutations = [mutation]
        let body: [UInt8] = try reply.serializedBytes()
        let error = #expect(throws: (any Error).self) { try RuntimeCodec.decode(body, protocol: .v2) }
        #expect(error.map { "\($0)" }?.contains("the new value of state 'seen_count' is not a serialized google.protobuf.Any") == true)
    }

    @Test func garbageRepliesThrow() {
        #expect(throws: (any Error).self) { try RuntimeCodec.decode([0xff, 0x01], protocol: .v2) }
        #expect(throws: (any Error).self) { try RuntimeCodec.decode([0xff, 0x01], protocol: .v3) }
    }
}
