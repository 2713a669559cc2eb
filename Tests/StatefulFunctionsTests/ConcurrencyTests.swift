import Foundation
import StatefulFunctions
import Synchronization
import Testing

/// Concurrent work inside a function (child tasks build ``ContextEffects``,
/// the function applies them), and a batch whose task is cancelled.
@Suite struct ConcurrencyTests {
    let target = Address(namespace: "example", type: "fan-out", id: "f")

    @Test func childTasksBuildEffectsThatTheFunctionApplies() async throws {
        let total = TypedValueSpec("total", Int64.self)
        let functions = StatefulFunctions()
        try functions.bind("example/fan-out", String.self, states: [total]) { context, _ in
            let caller = context.caller
            let results = try await withThrowingTaskGroup(of: (Int64, ContextEffects).self) { group in
                for n in Int64(1)...3 {
                    group.addTask {
                        await Task.yield()  // work that suspends, on the pool
                        var effects = ContextEffects()
                        effects.sendEgress(try EgressMessage("example/out", value: "\(n):\(n * n)"))
                        if let caller { effects.send(try OutgoingMessage(to: caller, value: n * n)) }
                        try effects.sendAfter(.seconds(n), OutgoingMessage("example/timer", id: "t\(n)", value: n),
                                              cancellationToken: "token-\(n)")
                        return (n, effects)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.0 < $1.0 }
            }
            var effects = ContextEffects()
            for (_, each) in results { effects.append(each) }
            effects.cancelDelayedMessage("token-0")
            try context.apply(effects)
            context[total] = (context[total] ?? 0) + results.reduce(0) { $0 + $1.0 * $1.0 }
        }
        let handler = RequestReplyHandler(functions, protocol: .v3)
        let caller = Address(namespace: "example", type: "caller", id: "c")
        let body = try v3Request(
            target: target, states: [("total", typedValue(try any(Int64(100))))], invocations: [(caller, try any("go"))])
        let result = try v3Reply(await handler.handle(body)).invocationResult
        #expect(try result.outgoingEgresses.map { try String(packedBytes: [UInt8]($0.argument.value)) } == ["1:1", "2:4", "3:9"])
        #expect(try result.outgoingMessages.map { try Int64(packedBytes: [UInt8]($0.argument.value)) } == [1, 4, 9])
        #expect(result.outgoingMessages.map(\.target.type) == ["caller", "caller", "caller"])
        #expect(result.delayedInvocations.map(\.delayInMs) == [1000, 2000, 3000, 0])
        #expect(result.delayedInvocations.map(\.cancellationToken) == ["token-1", "token-2", "token-3", "token-0"])
        try #require(result.stateMutations.count == 1)
        #expect(try Int64(packedBytes: [UInt8](result.stateMutations[0].stateValue.value)) == 114)
    }

    @Test func effectsWithACancellationTokenAreRefusedUnder2x() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/fan-out") { context, _ in
            var effects = ContextEffects()
            effects.sendEgress(try EgressMessage("example/out", value: "x"))
            try effects.sendAfter(.seconds(1), OutgoingMessage("example/timer", id: "t", value: "x"), cancellationToken: "t")
            #expect(throws: StatefulFunctionsError.invalidArgument("cancellation tokens need the StateFun 3.x protocol")) {
                try context.apply(effects)
            }
            var plain = ContextEffects()
            #expect(plain.isEmpty)
            #expect(throws: StatefulFunctionsError.missingArgument("delay")) {
                try plain.sendAfter(.zero, OutgoingMessage("example/timer", id: "t", value: "x"))
            }
            plain.sendEgress(try EgressMessage("example/out", value: "y"))
            try context.apply(plain)
        }
        let handler = RequestReplyHandler(functions, protocol: .v2)
        let result = try invocationResult(await handler.handle(try toFunction(target: target, invocations: [(nil, try any("go"))])))
        // Nothing of the refused effects, all of the applied ones.
        #expect(result.outgoingEgresses.count == 1)
        #expect(result.delayedInvocations.isEmpty)
    }

    /// The second of three invocations waits for its task's cancellation: the
    /// batch is answered 503, without the first one's effects.
    @Test func aCancelledBatchIsAnswered503WithNothingOfIt() async throws {
        let waiting = Atomic<Bool>(false)
        let functions = StatefulFunctions()
        try functions.bind("example/fan-out", String.self) { context, step in
            context.sendEgress(try EgressMessage("example/out", value: step))
            guard step == "wait" else { return }
            waiting.store(true, ordering: .sequentiallyConsistent)
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            try Task.checkCancellation()
        }
        let handler = RequestReplyHandler(functions, protocol: .v3)
        let body = try v3Request(target: target, invocations: try ["a", "wait", "c"].map { (nil, try any($0)) })
        let task = Task { await handler.handle(body) }
        while !waiting.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(1)) }
        task.cancel()
        let response = await task.value
        #expect(response.status == 503)
        #expect(response.text == "request cancelled (the client went away or the request timed out): function example/fan-out"
            + " at address example/fan-out/f stopped on invocation 2 of 3")
    }
}
