// A bound function's body as the batch runs it (BatchExecution.swift): a
// synchronous body gets each invocation where the batch's array holds it,
// lent by pointer, as a value read out of the array would be a copy that
// retains its strings; its message is decoded from the request's bytes.

extension StatefulFunction {
    enum Body: Sendable {
        /// Gets each invocation where the batch's array holds it (``run(_:in:)``).
        case synchronous(@Sendable (Context, UnsafePointer<BatchInvocation>) throws -> Void)
        case asynchronous(@Sendable (Context, BatchInvocation) async throws -> Void)
    }
}

extension StatefulFunction.Body {
    /// An untyped function's body: it gets each message as the raw ``AnyMessage``.
    static func untyped(_ body: @escaping FunctionBody<AnyMessage>) -> Self {
        .asynchronous { context, invocation in try await body(context, invocation.argument) }
    }

    static func untyped(_ body: @escaping SynchronousFunctionBody<AnyMessage>) -> Self {
        .synchronous { context, invocation in try body(context, invocation.pointee.argument) }
    }

    /// The body of a function of one message type.
    static func typed<M: PackableMessage>(_ type: M.Type, _ body: @escaping FunctionBody<M>) -> Self {
        let unpack = unpacker(for: type)
        return .asynchronous { context, invocation in
            try await body(context, try withUnsafePointer(to: invocation) { try unpack($0) })
        }
    }

    static func typed<M: PackableMessage>(_ type: M.Type, _ body: @escaping SynchronousFunctionBody<M>) -> Self {
        let unpack = unpacker(for: type)
        return .synchronous { context, invocation in try body(context, try unpack(invocation)) }
    }

    /// The body of a function of several message types.
    static func accepting(
        _ types: [any PackableMessage.Type], _ body: @escaping FunctionBody<any PackableMessage>
    ) -> Self {
        let unpack = unpacker(accepting: types)
        return .asynchronous { context, invocation in
            try await body(context, try withUnsafePointer(to: invocation) { try unpack($0) })
        }
    }

    static func accepting(
        _ types: [any PackableMessage.Type], _ body: @escaping SynchronousFunctionBody<any PackableMessage>
    ) -> Self {
        let unpack = unpacker(accepting: types)
        return .synchronous { context, invocation in try body(context, try unpack(invocation)) }
    }

    /// Decodes an invocation's message as an `M`, from where it was received.
    private static func unpacker<M: PackableMessage>(
        for type: M.Type
    ) -> @Sendable (UnsafePointer<BatchInvocation>) throws -> M {
        let typeName = M.typeName
        return { invocation in
            // The exact name is the usual case; other type URL prefixes match too (`AnyMessage.is`).
            let typeURL = invocation.pointee.typeURL
            guard typeURL == typeName || AnyMessage.typeURL(typeURL, holds: M.self) else {
                throw StatefulFunctionsError.unexpectedMessageType(typeURL: typeURL, accepted: [typeName])
            }
            return try BatchInvocation.decodeArgument(invocation, as: M.self)
        }
    }

    private static func unpacker(
        accepting types: [any PackableMessage.Type]
    ) -> @Sendable (UnsafePointer<BatchInvocation>) throws -> any PackableMessage {
        { invocation in
            let typeURL = invocation.pointee.typeURL
            guard let type = types.first(where: { AnyMessage.typeURL(typeURL, holds: $0) }) else {
                throw StatefulFunctionsError.unexpectedMessageType(typeURL: typeURL, accepted: types.map { $0.typeName })
            }
            return try BatchInvocation.decodeArgument(invocation, as: type)
        }
    }
}
