/// A message to a function instance: the target address and the value.
///
/// Build one to send with `context.send(_:)` or `context.sendAfter(_:_:cancellationToken:)`:
/// ```swift
/// context.send(try OutgoingMessage("example/audit", id: name, value: "\(name) reached \(seen)"))
/// ```
public struct OutgoingMessage: Sendable, Hashable {
    /// Where the message goes.
    public let target: Address
    /// The message: a type name (2.x type URL, 3.x typename) and its bytes.
    public let message: AnyMessage

    /// A message of any ``PackableMessage`` type (built-in, protobuf, JSON…) to `target`.
    public init(to target: Address, value: some PackableMessage) throws {
        try self.init(to: target, message: AnyMessage(packing: value))
    }

    /// A message of any ``PackableMessage`` type to `typename`/`id`.
    public init(_ typename: String, id: String, value: some PackableMessage) throws {
        try self.init(to: Address(typename, id: id), message: AnyMessage(packing: value))
    }

    /// An already packed message to `typename`/`id`.
    public init(_ typename: String, id: String, message: AnyMessage) throws {
        try self.init(to: Address(typename, id: id), message: message)
    }

    /// An already packed message to `target`.
    ///
    /// - Throws: ``StatefulFunctionsError/missingArgument(_:)`` for an empty id or type name.
    public init(to target: Address, message: AnyMessage) throws {
        try target.functionType.check()
        guard !target.id.isEmpty else { throw StatefulFunctionsError.missingArgument("id") }
        guard !message.typeURL.isEmpty else { throw StatefulFunctionsError.missingArgument("message type URL") }
        self.target = target
        self.message = message
    }
}

/// A message to an egress: the egress type (`namespace/name`) and the value.
public struct EgressMessage: Sendable, Hashable {
    /// The egress, as declared in module.yaml.
    public let egress: FunctionType
    /// The message.
    public let message: AnyMessage

    /// A message of any ``PackableMessage`` type to the egress `typename`.
    public init(_ typename: String, value: some PackableMessage) throws {
        try self.init(typename, message: AnyMessage(packing: value))
    }

    /// An already packed message to the egress `typename`.
    public init(_ typename: String, message: AnyMessage) throws {
        try self.init(egress: FunctionType(typename), message: message)
    }

    /// An already packed message to an egress whose type was parsed before.
    init(egress: FunctionType, message: AnyMessage) throws {
        guard !message.typeURL.isEmpty else { throw StatefulFunctionsError.missingArgument("message type URL") }
        self.egress = egress
        self.message = message
    }
}

/// Which StateFun remote protocol a handler speaks.
public enum ProtocolVersion: String, Sendable, Hashable, CaseIterable {
    /// StateFun 2.x: messages and state are `google.protobuf.Any`; states are
    /// declared in module.yaml.
    case v2
    /// StateFun 3.x: messages and state are `TypedValue`; states are declared
    /// by the functions' value specs.
    case v3
}

extension AnyMessage {
    /// The message as `type`, or `nil` if it holds another type: the 3.x SDKs'
    /// `as_type` (and, for the built-ins, `as_int`, `as_string`…).
    public func `as`<M: PackableMessage>(_ type: M.Type) -> M? {
        self.is(type) ? try? M(packedBytes: value) : nil
    }
}
