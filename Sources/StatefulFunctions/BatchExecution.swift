/// Why an invocation of a batch failed: which one, and the cause.
package struct InvocationFailure: Error, CustomStringConvertible {
    /// The position of the failed invocation in its batch, from 0.
    package let index: Int
    /// What the function threw, or the misuse of the state subscript.
    package let cause: any Error

    package var description: String { "\(cause)" }
}

extension StatefulFunction {
    /// True when the function's body never suspends (bound with a closure that does not `await`).
    package var isSynchronous: Bool {
        if case .synchronous = body { return true }
        return false
    }

    /// Runs the invocations of one batch in order on `context`, each seeing the
    /// state the one before it left. The first failure stops the batch.
    ///
    /// The request handler and the in-process test runtime both run batches
    /// this way, so they share the runtime's semantics.
    package func run(
        _ invocations: [BatchInvocation], in context: Context
    ) async throws(InvocationFailure) {
        switch body {
        case .synchronous(let body):
            try Self.run(invocations, in: context, body)
        case .asynchronous(let body):
            for (index, invocation) in invocations.enumerated() {
                context.caller = invocation.caller
                var failure: (any Error)?
                do {
                    try await body(context, invocation)
                } catch {
                    failure = error
                }
                try Self.check(context, index, failure)
            }
            try Self.encodeStates(context, invocations.count)
        }
    }

    /// ``run(_:in:)`` for a synchronous function (``isSynchronous``), without a task.
    package func runSynchronously(_ invocations: [BatchInvocation], in context: Context) throws(InvocationFailure) {
        guard case .synchronous(let body) = body else {
            preconditionFailure("runSynchronously(_:in:) called for a function whose body is async")
        }
        try Self.run(invocations, in: context, body)
    }

    /// Packs the states the batch stored; a failure is the last invocation's.
    static func encodeStates(_ context: Context, _ count: Int) throws(InvocationFailure) {
        do {
            try context.encodeStates()
        } catch {
            throw InvocationFailure(index: count - 1, cause: error)
        }
    }

    /// Stops the batch at invocation `index` if it failed.
    static func check(_ context: Context, _ index: Int, _ failure: (any Error)?) throws(InvocationFailure) {
        // A misused state subscript is the root cause even if the function threw after it.
        if let cause = context.deferredError.map({ $0 as any Error }) ?? failure {
            throw InvocationFailure(index: index, cause: cause)
        }
    }
}

extension Context {
    /// A context over the given states, for the in-process runtime.
    package convenience init(address: Address, stateValues: [StateValue], protocolVersion: ProtocolVersion) {
        self.init(address: address, states: stateValues, protocolVersion: protocolVersion)
    }

    /// How many states the batch changed.
    var modifiedStateCount: Int {
        var count = 0
        for index in states.indices where states[index].modified { count += 1 }
        return count
    }

    /// What the batch run on this context asks of the runtime.
    package var effects: BatchEffects {
        BatchEffects(
            mutations: states.filter(\.modified).map { ($0.name, $0.value) },
            outgoing: outgoing,
            delayed: delayed,
            egress: egress)
    }
}
