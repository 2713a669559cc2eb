import Greeter
import StatefulFunctions
import StatefulFunctionsProtobuf
import SwiftProtobuf
import Testing

@Suite struct HandlerTests {
    func greeterHandler() throws -> RequestReplyHandler {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        try Showcase.register(in: functions)
        return RequestReplyHandler(functions, protocol: .v2)
    }

    @Test func greeterCountsAndGreetsInOneBatch() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: greeterAddress, states: [("seen_count", nil)],
            invocations: [(nil, try greet("alice")), (callerAddress, try greet("alice")), (nil, try greet("alice")),
                          (nil, try greet("alice"))])
        let result = try invocationResult(await handler.handle(body))

        // One net mutation for the whole batch: seen_count = 4.
        #expect(result.stateMutations.count == 1)
        let mutation = try #require(result.stateMutations.first)
        #expect(mutation.mutationType == .modify)
        #expect(mutation.stateName == "seen_count")
        #expect(try stateAny(mutation).unpack(Example_SeenCount.self).seen == 4)

        // Every invocation saw the state the previous one left.
        let greetings = try result.outgoingEgresses.map { egress in
            #expect(egress.egressNamespace == "example")
            #expect(egress.egressType == "greets")
            let record = try PBKafkaRecord(serializedBytes: egress.argument.value)
            #expect(record.topic == "greetings")
            #expect(record.key == "alice")
            return try Example_GreetResponse(serializedBytes: record.valueBytes).greeting
        }
        #expect(greetings == ["Hello alice", "Hello again!", "Third time's the charm", "Hello for the 4th time"])

        // Only the invocation with a caller was answered.
        #expect(result.outgoingMessages.count == 1)
        #expect(address((try element(result.outgoingMessages, 0)).target) == callerAddress)
        let reply = try AnyMessage((try element(result.outgoingMessages, 0)).argument).unpack(Example_GreetResponse.self)
        #expect(reply.greeting == "Hello again!")
        #expect(result.delayedInvocations.isEmpty)
    }

    @Test func stateFromTheRequestIsTheStartingPoint() async throws {
        let handler = try greeterHandler()
        let stored = try AnyMessage(packing: Example_SeenCount.with { $0.seen = 41 })
        let body = try toFunction(
            target: greeterAddress, states: [("seen_count", stored)], invocations: [(nil, try greet("bob"))])
        let result = try invocationResult(await handler.handle(body))
        #expect(try stateAny((try element(result.stateMutations, 0))).unpack(Example_SeenCount.self).seen == 42)
        let record = try PBKafkaRecord(serializedBytes: (try element(result.outgoingEgresses, 0)).argument.value)
        #expect(try Example_GreetResponse(serializedBytes: record.valueBytes).greeting == "Hello for the 42th time")
    }

    func script(_ actions: [Example_Action]) throws -> AnyMessage {
        try AnyMessage(packing: Example_Script.with { $0.actions = actions })
    }

    func action(_ kind: Example_Action.Kind, _ configure: (inout Example_Action) -> Void = { _ in }) -> Example_Action {
        var action = Example_Action()
        action.kind = kind
        configure(&action)
        return action
    }

    let showcaseAddress = Address(namespace: "example", type: "showcase", id: "s1")

    @Test func onlyChangedStatesAreReportedInRequestOrder() async throws {
        let handler = try greeterHandler()
        let old = try AnyMessage(packing: Example_Ping.with { $0.text = "old" })
        let body = try toFunction(
            target: showcaseAddress,
            states: [("untouched", old), ("deleted", old), ("pings", nil), ("set", nil), ("set-then-deleted", old)],
            invocations: [
                (nil, try script([
                    action(.setState) { $0.state = "set"; $0.text = "new" },
                    action(.deleteState) { $0.state = "deleted" },
                    action(.setState) { $0.state = "set-then-deleted"; $0.text = "x" },
                ])),
                (nil, try script([action(.deleteState) { $0.state = "set-then-deleted" }])),
            ])
        let result = try invocationResult(await handler.handle(body))
        #expect(result.stateMutations.map(\.stateName) == ["deleted", "set", "set-then-deleted"])
        #expect(result.stateMutations.map(\.mutationType) == [.delete, .modify, .delete])
        #expect(try stateAny((try element(result.stateMutations, 1))).unpack(Example_Ping.self).text == "new")
    }

    @Test func messagesKeepEmissionOrderPerKind() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: showcaseAddress, states: [("pings", nil)],
            invocations: [
                (callerAddress, try script([
                    action(.send) { $0.targetType = "example/a"; $0.targetID = "1"; $0.text = "m1" },
                    action(.sendAfter) { $0.targetType = "example/b"; $0.targetID = "2"; $0.delayMs = 1500; $0.text = "d1" },
                    action(.reply) { $0.text = "r1" },
                    action(.egress) { $0.targetType = "example/out"; $0.text = "e1" },
                    action(.kinesisEgress) {
                        $0.targetType = "example/kinesis"; $0.text = "stream"; $0.targetID = "pk"; $0.state = "hash"
                    },
                ])),
                (nil, try script([
                    action(.send) { $0.targetType = "example/a"; $0.targetID = "3"; $0.text = "m2" },
                    action(.sendAfter) { $0.targetType = "example/b"; $0.targetID = "4"; $0.delayMs = 1; $0.text = "d2" },
                ])),
            ])
        let result = try invocationResult(await handler.handle(body))
        let texts = { (any: Google_Protobuf_Any) in try AnyMessage(any).unpack(Example_Ping.self).text }
        #expect(try result.outgoingMessages.map { try texts($0.argument) } == ["m1", "r1", "m2"])
        #expect(result.outgoingMessages.map { address($0.target).description }
            == ["example/a/1", "example/caller/c1", "example/a/3"])
        #expect(try result.delayedInvocations.map { try texts($0.argument) } == ["d1", "d2"])
        #expect(result.delayedInvocations.map(\.delayInMs) == [1500, 1])
        #expect(result.outgoingEgresses.map { "\($0.egressNamespace)/\($0.egressType)" }
            == ["example/out", "example/kinesis"])
        let kinesis = try PBKinesisRecord(serializedBytes: (try element(result.outgoingEgresses, 1)).argument.value)
        #expect(kinesis.stream == "stream" && kinesis.partitionKey == "pk" && kinesis.explicitHashKey == "hash")
        #expect(result.stateMutations.isEmpty)
    }

    @Test func aFailingInvocationFailsTheWholeBatch() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: showcaseAddress, states: [("pings", nil), ("note", nil)],
            invocations: [
                (nil, try script([
                    action(.setState) { $0.state = "note"; $0.text = "half" },
                    action(.send) { $0.targetType = "example/a"; $0.targetID = "1" },
                ])),
                (nil, try script([action(.fail) { $0.text = "boom" }])),
            ])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.contentType.hasPrefix("text/plain"))
        #expect(response.text.contains("example/showcase/s1"))
        #expect(response.text.contains("invocation 2 of 2"))
        #expect(response.text.contains("the script asked to fail: boom"))
    }

    @Test func aMessageOfAnUndeclaredTypeIs500() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: greeterAddress, states: [("seen_count", nil)],
            invocations: [(nil, try AnyMessage(packing: Example_Ping.with { $0.text = "?" }))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("unexpected message type 'type.googleapis.com/example.Ping'"))
        #expect(response.text.contains("type.googleapis.com/example.GreetRequest"))
    }

    @Test func anUndeclaredStateIs500NamingTheState() async throws {
        let handler = try greeterHandler()
        // The runtime did not send seen_count: it is not declared in module.yaml.
        let body = try toFunction(target: greeterAddress, invocations: [(nil, try greet("x"))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("unknown state name 'seen_count'"))
        #expect(response.text.contains("module.yaml"))
    }

    @Test func theSubscriptReportsAnUndeclaredStateAfterTheFunctionReturns() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: showcaseAddress, states: [("pings", nil)],
            invocations: [(nil, try script([action(.setState) { $0.state = "nope"; $0.text = "x" }]))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("unknown state name 'nope'"))
    }

    @Test func replyWithoutACallerFails() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: showcaseAddress, states: [("pings", nil)],
            invocations: [(nil, try script([action(.reply) { $0.text = "r" }]))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("unable to reply without a caller"))
    }

    @Test(arguments: [
        ("", "1", 0, "invalid type name ''"),
        ("example", "1", 0, "namespace/name"),
        ("example/a", "", 0, "missing id"),
        ("example/a", "1", -5, "delay must not be negative"),
    ])
    func sendArgumentsAreChecked(_ typename: String, _ id: String, _ delay: Int64, _ error: String) async throws {
        let handler = try greeterHandler()
        let kind: Example_Action.Kind = delay == 0 ? .send : .sendAfter
        let body = try toFunction(
            target: showcaseAddress, states: [("pings", nil)],
            invocations: [(nil, try script([action(kind) { $0.targetType = typename; $0.targetID = id; $0.delayMs = delay }]))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains(error))
    }

    @Test func unknownFunctionIs404() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: Address(namespace: "example", type: "nobody", id: "1"), invocations: [(nil, try greet("x"))])
        let response = await handler.handle(body)
        #expect(response.status == 404)
        #expect(response.text.contains("no function is bound to example/nobody"))
    }

    /// The handler finds a request's function from the target's bytes: by a
    /// scan for a few functions, by a table beyond eight. Either way a request
    /// reaches exactly its own function, and a name that only shares a prefix
    /// with a bound one (or extends it) reaches none.
    @Test(arguments: [3, 12])
    func eachRequestReachesItsOwnFunction(functionCount: Int) async throws {
        let functions = StatefulFunctions()
        for i in 0..<functionCount {
            try functions.bind("bench/f\(i)") { context, _ in
                try context.sendEgress("out/hit", message: AnyMessage(typeURL: "test/which", value: Array("f\(i)".utf8)))
            }
        }
        let handler = RequestReplyHandler(functions, protocol: .v2)
        for i in 0..<functionCount {
            let body = try toFunction(
                target: Address(namespace: "bench", type: "f\(i)", id: "x"), invocations: [(nil, try greet("x"))])
            let result = try invocationResult(await handler.handle(body))
            #expect(result.outgoingEgresses.map { String(decoding: $0.argument.value, as: UTF8.self) } == ["f\(i)"])
        }
        for type in ["f", "f1x", "F1", "f\(functionCount)"] {
            let body = try toFunction(
                target: Address(namespace: "bench", type: type, id: "x"), invocations: [(nil, try greet("x"))])
            #expect(await handler.handle(body).status == 404, "bench/\(type)")
        }
        let otherNamespace = try toFunction(
            target: Address(namespace: "benc", type: "f1", id: "x"), invocations: [(nil, try greet("x"))])
        #expect(await handler.handle(otherNamespace).status == 404)
    }

    @Test(arguments: [
        [UInt8]([0xff, 0xff, 0xff, 0xff]),
        [UInt8](),  // no invocation batch
        Array("hello, this is not protobuf".utf8),
    ])
    func garbageIs400(_ body: [UInt8]) async throws {
        let handler = try greeterHandler()
        let response = await handler.handle(body)
        #expect(response.status == 400)
        #expect(response.text.hasPrefix("bad request: "))
    }

    @Test func protocolViolationsAre400() async throws {
        let handler = try greeterHandler()
        // A batch of no invocations is answered with no effects, as the official SDKs answer it.
        let empty = try toFunction(target: greeterAddress, states: [("seen_count", nil)], invocations: [])
        let nothing = try invocationResult(await handler.handle(empty))
        #expect(nothing.stateMutations.isEmpty && nothing.outgoingMessages.isEmpty && nothing.outgoingEgresses.isEmpty)

        var batch = ToFunction.InvocationBatchRequest()
        batch.target = pbAddress(greeterAddress)
        var state = ToFunction.PersistedValue()
        state.stateName = "seen_count"
        state.stateValue = .init([0x0a, 0x50])  // a truncated Any
        batch.state = [state]
        var invocation = ToFunction.Invocation()
        invocation.argument = try greet("x").googleProtobufAny
        batch.invocations = [invocation]
        var request = ToFunction()
        request.invocation = batch
        // The official 2.x SDK parses a state's Any only when the function reads it:
        // the greeter reads it and fails (a 500); a function that did not would run.
        let corrupt = await handler.handle(try request.serializedBytes())
        #expect(corrupt.status == 500)
        #expect(corrupt.text.contains("message of type '' cannot be unpacked"), "\(corrupt.text)")
        let unread = StatefulFunctions()
        try unread.bind("example/greeter") { context, _ in try context.sendEgress("example/out", message: AnyMessage(typeURL: "t", value: [])) }
        #expect(await RequestReplyHandler(unread, protocol: .v2).handle(try request.serializedBytes()).status == 200)
    }

    @Test func untypedAndAsyncFunctionsGetTheRawAny() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/raw") { context, message in
            try await Task.sleep(for: .milliseconds(1))
            context["last"] = message
            try context.send("example/echo", id: context.address.id, message: message)
        }
        let handler = RequestReplyHandler(functions, protocol: .v2)
        let odd = AnyMessage(typeURL: "custom/whatever", value: [1, 2, 3])
        let body = try toFunction(
            target: Address(namespace: "example", type: "raw", id: "r"), states: [("last", nil)],
            invocations: [(nil, odd)])
        let result = try invocationResult(await handler.handle(body))
        #expect(try stateAny((try element(result.stateMutations, 0))) == odd)
        #expect(AnyMessage((try element(result.outgoingMessages, 0)).argument) == odd)
        #expect(address((try element(result.outgoingMessages, 0)).target).description == "example/echo/r")
        // The throwing form gives the same bytes.
        #expect(try await handler(body) == (await handler.handle(body)).body)
    }

    @Test func unionTypedFunctionsDispatch() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: showcaseAddress, states: [("pings", nil)],
            invocations: [
                (nil, try AnyMessage(packing: Example_Ping.with { $0.text = "p" })),
                (callerAddress, try AnyMessage(packing: Example_Ping.with { $0.text = "q" })),
                (nil, try AnyMessage(packing: Example_GreetRequest.with { $0.name = "no" })),
            ])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("invocation 3 of 3"))

        let good = try toFunction(
            target: showcaseAddress, states: [("pings", nil)],
            invocations: [
                (nil, try AnyMessage(packing: Example_Ping.with { $0.text = "p" })),
                (callerAddress, try AnyMessage(packing: Example_Ping.with { $0.text = "q" })),
            ])
        let result = try invocationResult(await handler.handle(good))
        #expect(try AnyMessage((try element(result.outgoingEgresses, 0)).argument).unpack(Example_Ping.self).text == "p #1")
        #expect(try AnyMessage((try element(result.outgoingMessages, 0)).argument).unpack(Example_Ping.self).text == "q #2")
        #expect(try stateAny((try element(result.stateMutations, 0))).unpack(Example_SeenCount.self).seen == 2)
    }

    @Test func anEmptyCallerCountsAsNoCaller() async throws {
        let handler = try greeterHandler()
        let body = try toFunction(
            target: greeterAddress, states: [("seen_count", nil)],
            invocations: [(Address(namespace: "", type: "", id: ""), try greet("x"))])
        let result = try invocationResult(await handler.handle(body))
        #expect(result.outgoingMessages.isEmpty)
    }
}

/// Values above the size the codec shares instead of copying (16 KiB): a decoded
/// bytes field becomes the value as protobuf-c wrote it, and an encoded one
/// points at the Swift array. Each must still be exactly its own bytes.
@Suite struct LargeValueTests {
    static func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    static let kept = AnyMessage(typeURL: "custom/blob", value: pattern(100_000, seed: 1))
    static let arguments = [
        AnyMessage(typeURL: "custom/blob", value: pattern(20_000, seed: 2)),
        AnyMessage(typeURL: "custom/blob", value: pattern(16 * 1024, seed: 3)),  // exactly the threshold
        AnyMessage(typeURL: "custom/blob", value: pattern(16 * 1024 - 1, seed: 4)),  // just below it
        AnyMessage(typeURL: "custom/blob", value: pattern(70_000, seed: 5)),
    ]

    /// Stores each argument, sends it and the untouched large state on.
    static func functions(states: [ValueSpec] = []) throws -> StatefulFunctions {
        let functions = StatefulFunctions()
        try functions.bind("example/raw", states: states) { context, message in
            context["last"] = message
            try context.send("example/echo", id: "e", message: message)
            guard let kept = context["kept"] else { throw TestFailure("the kept state is missing") }
            try context.send("example/echo", id: "k", message: kept)
        }
        return functions
    }

    @Test func largeValuesCrossTheV2CodecIntact() async throws {
        let handler = RequestReplyHandler(try Self.functions(), protocol: .v2)
        let body = try toFunction(
            target: Address(namespace: "example", type: "raw", id: "r"), states: [("kept", Self.kept), ("last", nil)],
            invocations: Self.arguments.map { (nil, $0) })
        let result = try invocationResult(await handler.handle(body))
        #expect(result.stateMutations.map(\.stateName) == ["last"])
        #expect(try stateAny((try element(result.stateMutations, 0))) == Self.arguments.last)
        let sent = result.outgoingMessages.map { AnyMessage($0.argument) }
        #expect(sent == Self.arguments.flatMap { [$0, Self.kept] })
    }

    @Test func largeValuesCrossTheV3CodecIntact() async throws {
        let specs = [ValueSpec(name: "kept", typeName: "custom/blob"), ValueSpec(name: "last", typeName: "custom/blob")]
        let handler = RequestReplyHandler(try Self.functions(states: specs), protocol: .v3)
        let body = try v3Request(
            target: Address(namespace: "example", type: "raw", id: "r"),
            states: [("kept", typedValue(Self.kept)), ("last", typedValue(nil, typeName: "custom/blob"))],
            invocations: Self.arguments.map { (nil, $0) })
        let result = try v3Reply(await handler.handle(body)).invocationResult
        #expect(result.stateMutations.map(\.stateName) == ["last"])
        let last = result.stateMutations.first?.stateValue
        #expect(last.map { AnyMessage(typeURL: $0.typename, value: [UInt8]($0.value)) } == Self.arguments.last)
        let sent = result.outgoingMessages.map { AnyMessage(typeURL: $0.argument.typename, value: [UInt8]($0.argument.value)) }
        #expect(sent == Self.arguments.flatMap { [$0, Self.kept] })
    }
}

@Suite struct SynchronousHandlingTests {
    @Test("a handler of synchronous functions answers without suspending, exactly as the async path does")
    func sameAnswersBothWays() async throws {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        try functions.bind("example/fails") { _, _ in throw TestFailure("on purpose") }
        let handler = RequestReplyHandler(functions, protocol: .v2)
        #expect(handler.isSynchronous)
        let bodies: [[UInt8]] = [
            try toFunction(
                target: greeterAddress, states: [("seen_count", nil)],
                invocations: [(nil, try greet("bo")), (callerAddress, try greet("bo"))]),
            try toFunction(target: greeterAddress, states: [("seen_count", nil)], invocations: []),
            try toFunction(
                target: Address(namespace: "example", type: "fails", id: "x"), states: [],
                invocations: [(nil, try greet("bo"))]),
            try toFunction(
                target: Address(namespace: "example", type: "nobody", id: "x"), states: [],
                invocations: [(nil, try greet("bo"))]),
            [0xFF, 0x01, 0x02],
        ]
        var statuses: [Int] = []
        for body in bodies {
            let synchronous = try #require(handler.handleSynchronously(body))
            #expect(synchronous == (await handler.handle(body)))
            statuses.append(synchronous.status)
        }
        #expect(statuses == [200, 200, 500, 404, 400])
        #expect(try invocationResult(#require(handler.handleSynchronously(bodies[0]))).outgoingEgresses.count == 2)

        // One async function, and the handler is not synchronous.
        try functions.bind("example/waits") { _, _ in await Task.yield() }
        let mixed = RequestReplyHandler(functions, protocol: .v2)
        #expect(!mixed.isSynchronous)
        #expect(mixed.handleSynchronously(bodies[0]) == nil)
        #expect((await mixed.handle(bodies[0])).status == 200)
    }
}
