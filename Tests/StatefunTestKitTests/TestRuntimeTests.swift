import Greeter
import GreeterV3
import StatefulFunctions
import StatefunTestKit
import Testing

@Suite struct TestRuntimeTests {
    let ann = Address(namespace: "example", type: "greeter", id: "ann")

    func greeterV3() throws -> TestRuntime {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        return TestRuntime(functions)
    }

    @Test func routesMessagesBetweenFunctionsAndCapturesEgress() async throws {
        let runtime = try greeterV3()
        for _ in 1...10 { try await runtime.send("ann", to: ann) }
        #expect(try runtime.state(of: ann, "seen", as: Int32.self) == 10)
        #expect(try runtime.egress("example/out", as: String.self) == (1...10).map { "ann:\($0)" })
        // The tenth greeting went to the auditor, which counted it.
        let auditor = Address(namespace: "example", type: "audit", id: "ann")
        #expect(try runtime.state(of: auditor, "audits", as: Int32.self) == 1)
        #expect(try runtime.egress("example/audit-out", as: String.self) == ["ann:1"])
        #expect(runtime.batches.map(\.address) == Array(repeating: ann, count: 10) + [auditor])
    }

    @Test func queuedMessagesForOneAddressGoOutAsOneBatch() async throws {
        let runtime = try greeterV3()
        let bob = Address(namespace: "example", type: "greeter", id: "bob")
        for name in ["ann", "ann", "bob", "ann"] {
            try runtime.enqueue(name, to: name == "ann" ? ann : bob)
        }
        try await runtime.run()
        #expect(runtime.batches.map(\.size) == [3, 1])
        #expect(try runtime.egress("example/out", as: String.self) == ["ann:1", "ann:2", "ann:3", "bob:1"])
    }

    @Test func batchesAreCappedAtMaxBatchSize() async throws {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let runtime = TestRuntime(functions, maxBatchSize: 2)
        for _ in 1...5 { try runtime.enqueue("ann", to: ann) }
        try await runtime.run()
        #expect(runtime.batches.map(\.size) == [2, 2, 1])
        #expect(try runtime.state(of: ann, "seen", as: Int32.self) == 5)
    }

    @Test func aFailingBatchIsNotAppliedAndStaysQueued() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/greeter", String.self, states: [ValueSpec("seen", Int32.self)]) { context, name in
            let seen = (try context.state("seen", as: Int32.self) ?? 0) + 1
            try context.setState("seen", to: seen)
            context.sendEgress(try EgressMessage("example/out", value: name))
            if name == "boom" { throw Boom() }
        }
        let runtime = TestRuntime(functions)
        try await runtime.send("ann", to: ann)
        try runtime.enqueue("again", to: ann)
        try runtime.enqueue("boom", to: ann)
        await #expect(throws: TestRuntimeError.self) { try await runtime.run() }
        #expect(try runtime.state(of: ann, "seen", as: Int32.self) == 1)
        #expect(try runtime.egress("example/out", as: String.self) == ["ann"])
        // Still queued, as the runtime would retry it.
        await #expect(throws: TestRuntimeError.self) { try await runtime.run() }
        #expect(runtime.batches.count == 1)
    }

    struct Boom: Error {}

    func timerFunctions() throws -> StatefulFunctions {
        let functions = StatefulFunctions()
        let sink = Address(namespace: "example", type: "sink", id: "s")
        try functions.bind("example/timer", String.self) { context, command in
            switch command {
            case "schedule": try context.sendAfter(.seconds(10), OutgoingMessage(to: sink, value: "tick"), cancellationToken: "t")
            case "cancel": try context.cancelDelayedMessage("t")
            default: break
            }
        }
        try functions.bind("example/sink", String.self, states: [ValueSpec("got", String.self)]) { context, value in
            try context.setState("got", to: value)
        }
        return functions
    }

    @Test func delayedMessagesWaitForTheVirtualClock() async throws {
        let runtime = TestRuntime(try timerFunctions())
        let timer = Address(namespace: "example", type: "timer", id: "t1")
        let sink = Address(namespace: "example", type: "sink", id: "s")
        try await runtime.send("schedule", to: timer)
        #expect(runtime.pendingDelayedMessages.map(\.due) == [.seconds(10)])
        try await runtime.advance(by: .seconds(9))
        #expect(try runtime.state(of: sink, "got", as: String.self) == nil)
        try await runtime.advance(by: .seconds(1))
        #expect(try runtime.state(of: sink, "got", as: String.self) == "tick")
        #expect(runtime.pendingDelayedMessages.isEmpty)
    }

    @Test func cancelledDelayedMessagesNeverArrive() async throws {
        let runtime = TestRuntime(try timerFunctions())
        let timer = Address(namespace: "example", type: "timer", id: "t1")
        try await runtime.send("schedule", to: timer)
        try await runtime.send("cancel", to: timer)
        try await runtime.advance(by: .seconds(60))
        #expect(try runtime.state(of: Address(namespace: "example", type: "sink", id: "s"), "got", as: String.self) == nil)
        #expect(runtime.batches.count == 2)
    }

    @Test func stateExpiresOnTheVirtualClock() async throws {
        let functions = StatefulFunctions()
        try functions.bind(
            "example/keeper", String.self,
            states: [
                ValueSpec("written", String.self, expiration: .afterWrite(.seconds(60))),
                ValueSpec("touched", String.self, expiration: .afterInvoke(.seconds(60))),
            ]
        ) { context, command in
            if command == "write" {
                try context.setState("written", to: "w")
                try context.setState("touched", to: "t")
            }
        }
        let runtime = TestRuntime(functions)
        let keeper = Address(namespace: "example", type: "keeper", id: "k")
        try await runtime.send("write", to: keeper)
        try await runtime.advance(by: .seconds(45))
        try await runtime.send("read", to: keeper)  // an invocation: refreshes "touched" only
        try await runtime.advance(by: .seconds(30))
        #expect(try runtime.state(of: keeper, "written", as: String.self) == nil)
        #expect(try runtime.state(of: keeper, "touched", as: String.self) == "t")
        try await runtime.advance(by: .seconds(30))
        #expect(try runtime.state(of: keeper, "touched", as: String.self) == nil)
    }

    @Test func messagesToUnboundFunctionsAreRecorded() async throws {
        let runtime = try greeterV3()
        let nobody = Address(namespace: "example", type: "nobody", id: "x")
        try await runtime.send("hi", to: nobody)
        #expect(runtime.undelivered.map(\.target) == [nobody])
        #expect(runtime.undelivered.first?.message.as(String.self) == "hi")
    }

    @Test func v2FunctionsSeeTheStatesModuleYamlDeclares() async throws {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        let runtime = TestRuntime(functions, protocol: .v2)
        let request = Example_GreetRequest.with { $0.name = "ann" }
        await #expect(throws: TestRuntimeError.self) { try await runtime.send(request, to: ann) }

        let declared = TestRuntime(functions, protocol: .v2)
        try declared.declareStates(["seen_count"], for: "example/greeter")
        for _ in 1...3 { try await declared.send(request, to: ann) }
        #expect(try declared.state(of: ann, "seen_count", as: Example_SeenCount.self)?.seen == 3)
        let greetings = try declared.egress("example/greets", as: KafkaProducerRecord.self).map {
            try Example_GreetResponse(packedBytes: $0.valueBytes).greeting
        }
        #expect(greetings == ["Hello ann", "Hello again!", "Third time's the charm"])
    }
}
