// The invocations of a batch as the handler decoded them: their message bytes
// are views of the request's arena, lent to the function bodies by pointer.

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
    /// The batch loop of a synchronous body: no suspension point between invocations.
    static func run(
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
}
