import GreeterV3
import StatefulFunctions
import StatefunTestKit
import Testing

/// The TestKit fails where the StateFun runtime fails the job, and applies nothing of that batch.
@Suite struct RuntimeFailureTests {
    let timer = Address(namespace: "example", type: "timer", id: "t")
    let sink = Address(namespace: "example", type: "sink", id: "s")

    /// `schedule` sends a delayed message with token "t"; `twice` two of them in one batch;
    /// `replace` cancels "t" and schedules it again.
    func timers() throws -> StatefulFunctions {
        let functions = StatefulFunctions()
        let sink = sink
        try functions.bind("example/timer", String.self, states: [ValueSpec("runs", Int32.self)]) { context, command in
            try context.setState("runs", to: (try context.state("runs", as: Int32.self) ?? 0) + 1)
            let message = try OutgoingMessage(to: sink, value: command)
            switch command {
            case "schedule": try context.sendAfter(.seconds(10), message, cancellationToken: "t")
            case "twice":
                try context.sendAfter(.seconds(10), message, cancellationToken: "t")
                try context.sendAfter(.seconds(20), message, cancellationToken: "t")
            case "replace":
                try context.cancelDelayedMessage("t")
                try context.sendAfter(.seconds(30), message, cancellationToken: "t")
            default: break
            }
        }
        try functions.bind("example/sink", String.self) { _, _ in }
        return functions
    }

    func expectJobFailed(_ containing: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected the job to fail with \(containing)")
        } catch let TestRuntimeError.jobFailed(reason) {
            #expect(reason.contains(containing), "\(reason)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aSecondPendingDelayedMessageWithOneTokenFailsTheJob() async throws {
        let runtime = TestRuntime(try timers())
        try await runtime.send("schedule", to: timer)
        await expectJobFailed("with cancellation token 't' while a message with that token is pending") {
            try await runtime.send("schedule", to: timer)
        }
        // Nothing of the failed batch applied: one pending message, the state of the first batch.
        #expect(runtime.pendingDelayedMessages.map(\.due) == [.seconds(10)])
        #expect(try runtime.state(of: timer, "runs", as: Int32.self) == 1)

        // Twice in one batch fails too; cancelling first, then reusing the token, does not.
        let fresh = TestRuntime(try timers())
        await expectJobFailed("cancellation token 't'") { try await fresh.send("twice", to: timer) }
        #expect(fresh.pendingDelayedMessages.isEmpty)
        let replacing = TestRuntime(try timers())
        try await replacing.send("schedule", to: timer)
        try await replacing.send("replace", to: timer)
        #expect(replacing.pendingDelayedMessages.map(\.due) == [.seconds(30)])
        // Once delivered, a token is free again.
        try await replacing.advance(by: .seconds(30))
        try await replacing.send("schedule", to: timer)
        #expect(replacing.pendingDelayedMessages.count == 1)
    }

    func egressSender() throws -> StatefulFunctions {
        let functions = StatefulFunctions()
        try functions.bind("example/sender", String.self) { context, command in
            switch command {
            case "kafka":
                context.sendEgress(try kafkaEgressMessage(typename: "example/kafka", topic: "t", key: "k", value: "v"))
            case "kinesis":
                context.sendEgress(try kinesisEgressMessage(typename: "example/kinesis", stream: "s", partitionKey: "p", value: "v"))
            case "string to kafka": context.sendEgress(try EgressMessage("example/kafka", value: "v"))
            case "string to kinesis": context.sendEgress(try EgressMessage("example/kinesis", value: "v"))
            case "kafka to kinesis":
                context.sendEgress(try kafkaEgressMessage(typename: "example/kinesis", topic: "t", value: "v"))
            case "undeclared": context.sendEgress(try EgressMessage("example/nowhere", value: "v"))
            default: context.sendEgress(try EgressMessage("example/any", value: command))
            }
        }
        return functions
    }

    @Test func egressesAreCheckedOnceDeclared() async throws {
        let sender = Address(namespace: "example", type: "sender", id: "1")
        // None declared: anything goes anywhere, as before.
        let lenient = TestRuntime(try egressSender())
        try await lenient.send("undeclared", to: sender)
        #expect(try lenient.egress("example/nowhere", as: String.self) == ["v"])

        func declared() throws -> TestRuntime {
            let runtime = TestRuntime(try egressSender())
            try runtime.declareEgress("example/kafka", kind: .kafka)
            try runtime.declareEgress("example/kinesis", kind: .kinesis)
            try runtime.declareEgress("example/any")
            return runtime
        }
        let runtime = try declared()
        for command in ["kafka", "kinesis", "hello"] { try await runtime.send(command, to: sender) }
        #expect(try runtime.egress("example/kafka", as: KafkaProducerRecord.self).map(\.topic) == ["t"])
        #expect(try runtime.egress("example/kinesis", as: KinesisEgressRecord.self).map(\.stream) == ["s"])
        #expect(try runtime.egress("example/any", as: String.self) == ["hello"])

        // A failed batch stays queued, as the runtime would retry it: one runtime per failure.
        let cases = [
            ("undeclared", "Unknown egress example/nowhere"),
            ("string to kafka", "the kafka egress example/kafka takes only \(kafkaProducerRecordTypeName), not io.statefun.types/string"),
            ("string to kinesis", "the kinesis egress example/kinesis takes only \(kinesisEgressRecordTypeName), not io.statefun.types/string"),
            ("kafka to kinesis", "the kinesis egress example/kinesis takes only \(kinesisEgressRecordTypeName), not \(kafkaProducerRecordTypeName)"),
        ]
        for (command, failure) in cases {
            let failing = try declared()
            try await failing.send("kafka", to: sender)
            await expectJobFailed(failure) { try await failing.send(command, to: sender) }
            // Nothing of the failed batch reached an egress.
            #expect(try failing.egress("example/kafka").count == 1)
            #expect(try failing.egress("example/kinesis").isEmpty)
            #expect(try failing.egress("example/nowhere").isEmpty)
            #expect(failing.batches.count == 1)
        }
    }

    @Test func a2xKafkaEgressTakesThe2xRecord() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/sender", String.self) { context, command in
            let record = try kafkaEgressRecord(topic: "t", key: "k", value: command)
            if command == "3.x" {
                context.sendEgress(try kafkaEgressMessage(typename: "example/kafka", topic: "t", value: command))
            } else {
                try context.packAndSendEgress("example/kafka", message: record)
            }
        }
        let runtime = TestRuntime(functions, protocol: .v2)
        try runtime.declareEgress("example/kafka", kind: .kafka)
        try await runtime.send("2.x", to: Address(namespace: "example", type: "sender", id: "1"))
        #expect(try runtime.egress("example/kafka", as: KafkaProducerRecord.self).map(\.key) == ["k"])
        await expectJobFailed("takes only \(KafkaProducerRecord.typeName), not \(kafkaProducerRecordTypeName)") {
            try await runtime.send("3.x", to: Address(namespace: "example", type: "sender", id: "2"))
        }
    }

    @Test func unboundTargetsFailOnRequestAndAreKeptEitherWay() async throws {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        try functions.bind("example/forwarder", String.self) { context, text in
            context.send(try OutgoingMessage("example/nobody", id: "x", value: text))
        }
        let nobody = Address(namespace: "example", type: "nobody", id: "x")
        let forwarder = Address(namespace: "example", type: "forwarder", id: "f")

        let lenient = TestRuntime(functions)
        try await lenient.send("hi", to: forwarder)
        #expect(lenient.undelivered.map(\.target) == [nobody])

        let strict = TestRuntime(functions)
        strict.failsOnUnboundTargets = true
        await expectJobFailed("Cannot find a provider for the function type example/nobody") {
            try await strict.send("hi", to: forwarder)
        }
        await expectJobFailed("Cannot find a provider for the function type example/nobody") {
            try await strict.send("direct", to: nobody)
        }
        #expect(strict.undelivered.map(\.target) == [nobody])
        #expect(strict.undelivered.first?.message.as(String.self) == "direct")
        #expect(strict.batches.isEmpty)
        // Bound targets still work.
        let greeter = TestRuntime(functions)
        greeter.failsOnUnboundTargets = true
        try await greeter.send("ann", to: Address(namespace: "example", type: "greeter", id: "ann"))
        #expect(try greeter.egress("example/out", as: String.self) == ["ann:1"])
    }
}
