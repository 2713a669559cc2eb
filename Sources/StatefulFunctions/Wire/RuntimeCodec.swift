import CStatefunProtocol

// The runtime's side of the protocol: encoding `ToFunction` and decoding
// `FromFunction`, for tools that play the StateFun runtime over HTTP
// (statefun-local, the tests), over the same wire schemas as the handler's side.
// (The TestKit runs functions in-process and needs no codec.)

/// One batch as the runtime sends it to a function endpoint.
package struct BatchRequest: Sendable {
    package let target: Address
    /// The address's states: under 2.x every declared state (absent ones as
    /// `nil`); under 3.x every registered spec, typed by `typeName`.
    package let states: [StateValue]
    package let invocations: [(caller: Address?, argument: AnyMessage)]

    package init(target: Address, states: [StateValue], invocations: [(caller: Address?, argument: AnyMessage)]) {
        self.target = target
        self.states = states
        self.invocations = invocations
    }
}

/// What an endpoint answered to a batch.
package enum BatchReply {
    /// The batch completed with these effects.
    case completed(BatchEffects)
    /// (3.x) The endpoint needs these states registered; send the batch again.
    case incomplete([ValueSpec])
}

/// A reply the runtime refuses: it does not decode, or names no valid target.
package struct MalformedReply: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// Encodes requests and decodes replies, as the runtime does.
package enum RuntimeCodec {
    /// Serializes `request` as a `ToFunction` of the given protocol.
    package static func encode(_ request: BatchRequest, protocol version: ProtocolVersion) -> [UInt8] {
        switch version {
        case .v2: return encode(request, SchemaV2.self)
        case .v3: return encode(request, SchemaV3.self)
        }
    }

    /// Decodes a `FromFunction` of the given protocol.
    ///
    /// - Throws: ``MalformedReply`` when the bytes are not a valid reply.
    package static func decode(_ body: [UInt8], protocol version: ProtocolVersion) throws -> BatchReply {
        switch version {
        case .v2: return try decode(body, SchemaV2.self)
        case .v3: return try decode(body, SchemaV3.self)
        }
    }

    private static func encode<Schema: WireSchema>(_ request: BatchRequest, _: Schema.Type) -> [UInt8] {
        let arena = Arena(capacity: estimatedSize(request) + 256)
        return build(request, Schema.self, in: arena).withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) {
            arena.pack($0)
        }
    }

    /// The `ToFunction` of `request`, built in `arena`.
    static func build<Schema: WireSchema>(
        _ request: BatchRequest, _: Schema.Type, in arena: Arena
    ) -> UnsafeMutablePointer<Schema.ToFunction> {
        let states = UnsafeMutableBufferPointer(
            start: arena.pointers(to: Schema.State.self, count: request.states.count), count: request.states.count)
        for (i, state) in request.states.enumerated() {
            states[i] = Schema.makeState(name: state.name, value: state.value, typeName: state.typeName, in: arena)
        }
        let invocations = UnsafeMutableBufferPointer(
            start: arena.pointers(to: Schema.Invocation.self, count: request.invocations.count), count: request.invocations.count)
        for (i, invocation) in request.invocations.enumerated() {
            invocations[i] = Schema.makeInvocation(
                caller: invocation.caller.map { arena.address(Schema.self, $0) },
                argument: arena.value(Schema.self, invocation.argument.typeURL, invocation.argument.value), in: arena)
        }
        let batch = Schema.makeBatch(
            target: arena.address(Schema.self, request.target), states: states, invocations: invocations, in: arena)
        return Schema.makeRequest(batch, in: arena)
    }

    private static func decode<Schema: WireSchema>(_ body: [UInt8], _: Schema.Type) throws -> BatchReply {
        let reply = try decodeProtobufC(body, { Schema.unpackReply($0, UnsafeBufferPointer(start: $2, count: $1)) }) {
            reply -> BatchReply in
            if let missing = Schema.missingValues(reply) { return .incomplete(missing) }
            // A FromFunction without a result is an empty result.
            guard let response = Schema.response(reply) else {
                return .completed(BatchEffects(mutations: [], outgoing: [], delayed: [], egress: []))
            }
            return .completed(BatchEffects(
                mutations: Schema.mutations(response).compactMap { $0 }.map { mutation in
                    let fields = Schema.mutation(mutation)
                    return (String(repairing: fields.name), fields.value)
                },
                outgoing: try Schema.outgoing(response).compactMap { $0 }.map { message in
                    let fields = Schema.outgoing(message)
                    return try outgoing(fields.target.map { address(Schema.address($0)) },
                                        fields.argument.map { AnyMessage(repairing: Schema.value($0)) })
                },
                delayed: try Schema.delayed(response).compactMap { $0 }.map { delayed -> DelayedSend in
                    let fields = Schema.delayed(delayed)
                    let token = String(repairing: fields.cancellationToken)
                    if fields.isCancellation { return .cancellation(token: token) }
                    return .message(
                        delayInMilliseconds: fields.delayInMilliseconds,
                        try outgoing(fields.target.map { address(Schema.address($0)) },
                                     fields.argument.map { AnyMessage(repairing: Schema.value($0)) }),
                        cancellationToken: token.isEmpty ? nil : token)
                },
                egress: try Schema.egress(response).compactMap { $0 }.map { message in
                    let fields = Schema.egress(message)
                    return try egress(fields.namespace, fields.type, fields.argument.map { AnyMessage(repairing: Schema.value($0)) })
                }))
        }
        guard let reply else { throw MalformedReply(body.withUnsafeBufferPointer { Schema.undecodableReply($0) }) }
        return reply
    }

    // MARK: Pieces

    /// An address from the SDK's own reply: not checked.
    private static func address(_ fields: AddressFields) -> Address {
        Address(
            FunctionType(namespace: String(repairing: fields.namespace), name: String(repairing: fields.type)),
            id: String(repairing: fields.id))
    }

    /// A message the reply names: a reply that names no valid target fails, as the runtime fails the job.
    private static func outgoing(_ target: Address?, _ message: AnyMessage?) throws -> OutgoingMessage {
        guard let target, let message else { throw MalformedReply("the reply sends a message without target or argument") }
        do {
            return try OutgoingMessage(to: target, message: message)
        } catch {
            throw MalformedReply("the reply sends an invalid message to \(target): \(error)")
        }
    }

    private static func egress(
        _ namespace: ProtobufCBinaryData, _ type: ProtobufCBinaryData, _ message: AnyMessage?
    ) throws -> EgressMessage {
        let typename = "\(String(repairing: namespace))/\(String(repairing: type))"
        guard let message else { throw MalformedReply("the reply sends to egress \(typename) without an argument") }
        do {
            return try EgressMessage(typename, message: message)
        } catch {
            throw MalformedReply("the reply sends an invalid egress message to \(typename): \(error)")
        }
    }

    private static func estimatedSize(_ request: BatchRequest) -> Int {
        var size = 256
        for state in request.states { size += state.name.utf8.count + (state.value?.value.count ?? 0) + 96 }
        for invocation in request.invocations { size += invocation.argument.value.count + invocation.argument.typeURL.utf8.count + 160 }
        return size * 2
    }
}
