/// Why an invocation of a batch failed: which one, and the cause.
package struct InvocationFailure: Error, CustomStringConvertible {
    /// The position of the failed invocation in its batch, from 0.
    package let index: Int
    /// What the function threw, or the misuse of the state subscript.
    package let cause: any Error

    package var description: String { "\(cause)" }
}

/// One invocation of a batch: the message, and who sent it (`nil` for an ingress).
///
/// A decoded request's message stays where the request was decoded (the
/// arena, which the decoded batch keeps alive, not the invocation: a copy of
/// an invocation then costs no atomic reference count): a typed function
/// decodes its message from there, and only an untyped one gets a copy, as an
/// ``AnyMessage``.
package struct BatchInvocation {
    package var caller: Address?
    /// The message's type: a 2.x type URL or a 3.x typename.
    package let typeURL: String
    private let bytes: Bytes

    private enum Bytes {
        case array([UInt8])
        /// Bytes in an arena that the batch keeps (``InvocationBatch/arena``).
        case view(UnsafeRawBufferPointer)
    }

    package init(caller: Address?, argument: AnyMessage) {
        self.caller = caller
        self.typeURL = argument.typeURL
        self.bytes = .array(argument.value)
    }

    /// An invocation whose message bytes live in an arena that outlives it.
    init(caller: Address?, typeURL: String, arenaBytes bytes: UnsafeRawBufferPointer) {
        self.caller = caller
        self.typeURL = typeURL
        self.bytes = .view(bytes)
    }

    /// Whether the message has any bytes.
    var hasBytes: Bool {
        switch bytes {
        case .array(let array): !array.isEmpty
        case .view(let view): !view.isEmpty
        }
    }

    /// The message, as an ``AnyMessage`` (a copy of a decoded request's bytes).
    package var argument: AnyMessage {
        switch bytes {
        case .array(let array): return AnyMessage(typeURL: typeURL, value: array)
        case .view(let view): return AnyMessage(typeURL: typeURL, value: [UInt8](view))
        }
    }

    /// The message of `invocation` decoded as `type` from its bytes (the caller
    /// checked the type name). Static over a pointer: a method called on an
    /// invocation in an array would work on a copy of it.
    static func decodeArgument(
        _ invocation: UnsafePointer<BatchInvocation>, as type: any PackableMessage.Type
    ) throws -> any PackableMessage {
        switch invocation.pointee.bytes {
        case .array(let array): return try type.init(packedBytes: array)
        case .view(let view): return try type.init(packedBytes: view)
        }
    }

    /// The message of `invocation` decoded as an `M` (the caller checked the type name).
    static func decodeArgument<M: PackableMessage>(_ invocation: UnsafePointer<BatchInvocation>, as type: M.Type) throws -> M {
        switch invocation.pointee.bytes {
        case .array(let array): return try M(packedBytes: array)
        case .view(let view): return try M(packedBytes: view)
        }
    }
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

    /// The batch loop of a synchronous body: no suspension point between invocations.
    private static func run(
        _ invocations: [BatchInvocation], in context: Context,
        _ body: (Context, UnsafePointer<BatchInvocation>) throws -> Void
    ) throws(InvocationFailure) {
        // Each invocation is lent to the body where the array holds it: a
        // value read out of the array would be a copy, retaining its strings.
        try invocations.withUnsafeBufferPointer { (invocations) throws(InvocationFailure) in
            guard let first = invocations.baseAddress else { return }
            for index in invocations.indices {
                let invocation = first + index
                context.caller = invocation.pointee.caller
                var failure: (any Error)?
                do {
                    try body(context, invocation)
                } catch {
                    failure = error
                }
                try check(context, index, failure)
            }
        }
        try encodeStates(context, invocations.count)
    }

    /// Packs the states the batch stored; a failure is the last invocation's.
    private static func encodeStates(_ context: Context, _ count: Int) throws(InvocationFailure) {
        do {
            try context.encodeStates()
        } catch {
            throw InvocationFailure(index: count - 1, cause: error)
        }
    }

    /// Stops the batch at invocation `index` if it failed.
    private static func check(_ context: Context, _ index: Int, _ failure: (any Error)?) throws(InvocationFailure) {
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
