import CStatefunProtocol

// The runtime's side of the protocol: encoding `ToFunction` and decoding
// `FromFunction`, for tools that play the StateFun runtime (statefun-local).

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

/// Encodes requests and decodes replies, as the runtime does.
package enum RuntimeCodec {
    /// Serializes `request` as a `ToFunction` of the given protocol.
    package static func encode(_ request: BatchRequest, protocol version: ProtocolVersion) -> [UInt8] {
        switch version {
        case .v2: return encodeV2(request)
        case .v3: return encodeV3(request)
        }
    }

    /// Decodes a `FromFunction` of the given protocol.
    ///
    /// - Throws: when the bytes are not a valid reply.
    package static func decode(_ body: [UInt8], protocol version: ProtocolVersion) throws -> BatchReply {
        switch version {
        case .v2: return try decodeV2(body)
        case .v3: return try decodeV3(body)
        }
    }

    // MARK: 2.x

    private static func encodeV2(_ request: BatchRequest) -> [UInt8] {
        typealias Batch = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction__InvocationBatchRequest
        typealias State = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction__PersistedValue
        typealias Invocation = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction__Invocation
        return encodeProtobufC(capacity: estimatedSize(request)) { arena in
            let batch = arena.message(Batch.self) {
                org__apache__flink__statefun__flink__core__polyglot__to_function__invocation_batch_request__init($0)
            }
            batch.pointee.target = ProtocolV2.address(request.target, arena)
            batch.pointee.n_state = request.states.count
            batch.pointee.state = arena.pointers(to: State.self, count: request.states.count)
            for (i, state) in request.states.enumerated() {
                batch.pointee.state[i] = arena.message(State.self) { pointer in
                    org__apache__flink__statefun__flink__core__polyglot__to_function__persisted_value__init(pointer)
                    pointer.pointee.state_name = arena.string(state.name)
                    if let value = state.value { pointer.pointee.state_value = ProtocolV2.any(value, arena) }
                }
            }
            batch.pointee.n_invocations = request.invocations.count
            batch.pointee.invocations = arena.pointers(to: Invocation.self, count: request.invocations.count)
            for (i, invocation) in request.invocations.enumerated() {
                batch.pointee.invocations[i] = arena.message(Invocation.self) { pointer in
                    org__apache__flink__statefun__flink__core__polyglot__to_function__invocation__init(pointer)
                    if let caller = invocation.caller { pointer.pointee.caller = ProtocolV2.address(caller, arena) }
                    pointer.pointee.argument = ProtocolV2.any(invocation.argument, arena)
                }
            }
            return arena.message(V2ToFunction.self) {
                org__apache__flink__statefun__flink__core__polyglot__to_function__init($0)
                $0.pointee.request_case =
                    ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__TO_FUNCTION__REQUEST_INVOCATION
                $0.pointee.invocation = batch
            }
        }
    }

    private static func decodeV2(_ body: [UInt8]) throws -> BatchReply {
        let reply = try decodeProtobufC(body, org__apache__flink__statefun__flink__core__polyglot__from_function__unpack) {
            fromFunction -> BatchEffects in
            // A FromFunction without a result is an empty result.
            guard let result = fromFunction.pointee.invocation_result,
                  fromFunction.pointee.response_case
                    == ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
            else { return BatchEffects(mutations: [], outgoing: [], delayed: [], egress: []) }
            let r = result.pointee
            return BatchEffects(
                mutations: items(r.state_mutations, r.n_state_mutations).map { m in
                    let modify = m.pointee.mutation_type
                        == ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
                    let name = String(repairing: m.pointee.state_name)
                    guard modify else { return (name, nil) }
                    // Empty bytes (no embedded Any) are an empty Any, as the runtime stores them.
                    return (name, m.pointee.state_value.map(ProtocolV2.anyMessage) ?? AnyMessage(typeURL: "", value: []))
                },
                outgoing: try items(r.outgoing_messages, r.n_outgoing_messages).map { m in
                    try outgoing(m.pointee.target.map(ProtocolV2.address), m.pointee.argument.map(ProtocolV2.anyMessage))
                },
                delayed: try items(r.delayed_invocations, r.n_delayed_invocations).map { m in
                    .message(
                        delay: .milliseconds(m.pointee.delay_in_ms),
                        try outgoing(m.pointee.target.map(ProtocolV2.address), m.pointee.argument.map(ProtocolV2.anyMessage)),
                        cancellationToken: nil)
                },
                egress: try items(r.outgoing_egresses, r.n_outgoing_egresses).map { m in
                    try egress(m.pointee.egress_namespace, m.pointee.egress_type, m.pointee.argument.map(ProtocolV2.anyMessage))
                })
        }
        guard let reply else {
            throw MalformedRequest(
                body.withUnsafeBufferPointer {
                    ProtocolV2.malformedStateValue($0, states: 1, name: 2, value: 3, what: "the new value of state")
                } ?? "the reply is not a serialized FromFunction (StateFun 2.x)")
        }
        return .completed(reply)
    }

    // MARK: 3.x

    private static func encodeV3(_ request: BatchRequest) -> [UInt8] {
        typealias Batch = Io__Statefun__Sdk__Reqreply__ToFunction__InvocationBatchRequest
        typealias State = Io__Statefun__Sdk__Reqreply__ToFunction__PersistedValue
        typealias Invocation = Io__Statefun__Sdk__Reqreply__ToFunction__Invocation
        return encodeProtobufC(capacity: estimatedSize(request)) { arena in
            let batch = arena.message(Batch.self) {
                io__statefun__sdk__reqreply__to_function__invocation_batch_request__init($0)
            }
            batch.pointee.target = ProtocolV3.address(request.target, arena)
            batch.pointee.n_state = request.states.count
            batch.pointee.state = arena.pointers(to: State.self, count: request.states.count)
            for (i, state) in request.states.enumerated() {
                batch.pointee.state[i] = arena.message(State.self) { pointer in
                    io__statefun__sdk__reqreply__to_function__persisted_value__init(pointer)
                    pointer.pointee.state_name = arena.string(state.name)
                    let typed = ProtocolV3.typedValue(
                        AnyMessage(typeURL: state.typeName ?? state.value?.typeURL ?? "", value: state.value?.value ?? []),
                        arena)
                    typed.pointee.has_value = state.value == nil ? 0 : 1
                    pointer.pointee.state_value = typed
                }
            }
            batch.pointee.n_invocations = request.invocations.count
            batch.pointee.invocations = arena.pointers(to: Invocation.self, count: request.invocations.count)
            for (i, invocation) in request.invocations.enumerated() {
                batch.pointee.invocations[i] = arena.message(Invocation.self) { pointer in
                    io__statefun__sdk__reqreply__to_function__invocation__init(pointer)
                    if let caller = invocation.caller { pointer.pointee.caller = ProtocolV3.address(caller, arena) }
                    pointer.pointee.argument = ProtocolV3.typedValue(invocation.argument, arena)
                }
            }
            return arena.message(Io__Statefun__Sdk__Reqreply__ToFunction.self) {
                io__statefun__sdk__reqreply__to_function__init($0)
                $0.pointee.request_case = IO__STATEFUN__SDK__REQREPLY__TO_FUNCTION__REQUEST_INVOCATION
                $0.pointee.invocation = batch
            }
        }
    }

    private static func decodeV3(_ body: [UInt8]) throws -> BatchReply {
        let reply = try decodeProtobufC(body, io__statefun__sdk__reqreply__from_function__unpack) { fromFunction -> BatchReply in
            if fromFunction.pointee.response_case
                == IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INCOMPLETE_INVOCATION_CONTEXT,
               let incomplete = fromFunction.pointee.incomplete_invocation_context {
                return .incomplete(items(incomplete.pointee.missing_values, incomplete.pointee.n_missing_values).map {
                    valueSpec($0)
                })
            }
            guard let result = fromFunction.pointee.invocation_result,
                  fromFunction.pointee.response_case == IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
            else { return .completed(BatchEffects(mutations: [], outgoing: [], delayed: [], egress: [])) }
            let r = result.pointee
            return .completed(BatchEffects(
                mutations: items(r.state_mutations, r.n_state_mutations).map { m in
                    let modify = m.pointee.mutation_type
                        == IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
                    return (String(repairing: m.pointee.state_name),
                            modify ? m.pointee.state_value.map(ProtocolV3.typedValue) : nil)
                },
                outgoing: try items(r.outgoing_messages, r.n_outgoing_messages).map { m in
                    try outgoing(m.pointee.target.map(ProtocolV3.address), m.pointee.argument.map(ProtocolV3.typedValue))
                },
                delayed: try items(r.delayed_invocations, r.n_delayed_invocations).map { m -> DelayedSend in
                    let token = String(repairing: m.pointee.cancellation_token)
                    if m.pointee.is_cancellation_request != 0 { return .cancellation(token: token) }
                    return .message(
                        delay: .milliseconds(m.pointee.delay_in_ms),
                        try outgoing(m.pointee.target.map(ProtocolV3.address), m.pointee.argument.map(ProtocolV3.typedValue)),
                        cancellationToken: token.isEmpty ? nil : token)
                },
                egress: try items(r.outgoing_egresses, r.n_outgoing_egresses).map { m in
                    try egress(m.pointee.egress_namespace, m.pointee.egress_type, m.pointee.argument.map(ProtocolV3.typedValue))
                }))
        }
        guard let reply else { throw MalformedRequest("the reply is not a serialized FromFunction (StateFun 3.x)") }
        return reply
    }

    private static func valueSpec(_ spec: UnsafeMutablePointer<V3ValueSpec>) -> ValueSpec {
        let name = String(repairing: spec.pointee.state_name)
        let typeName = String(repairing: spec.pointee.type_typename)
        guard let expiration = spec.pointee.expiration_spec?.pointee else {
            return ValueSpec(name: name, typeName: typeName)
        }
        let ttl = Duration.milliseconds(expiration.expire_after_millis)
        switch expiration.mode {
        case IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__AFTER_WRITE:
            return ValueSpec(name: name, typeName: typeName, expiration: .afterWrite(ttl))
        case IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__AFTER_INVOKE:
            return ValueSpec(name: name, typeName: typeName, expiration: .afterInvoke(ttl))
        default:
            return ValueSpec(name: name, typeName: typeName)
        }
    }

    // MARK: Pieces

    private static func items<T>(_ array: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int) -> [UnsafeMutablePointer<T>] {
        guard let array else { return [] }
        return (0..<count).compactMap { array[$0] }
    }

    /// A message the reply names: a reply that names no valid target fails, as the runtime fails the job.
    private static func outgoing(_ target: Address?, _ message: AnyMessage?) throws -> OutgoingMessage {
        guard let target, let message else { throw MalformedRequest("the reply sends a message without target or argument") }
        do {
            return try OutgoingMessage(to: target, message: message)
        } catch {
            throw MalformedRequest("the reply sends an invalid message to \(target): \(error)")
        }
    }

    private static func egress(
        _ namespace: ProtobufCBinaryData, _ type: ProtobufCBinaryData, _ message: AnyMessage?
    ) throws -> EgressMessage {
        let typename = "\(String(repairing: namespace))/\(String(repairing: type))"
        guard let message else { throw MalformedRequest("the reply sends to egress \(typename) without an argument") }
        do {
            return try EgressMessage(typename, message: message)
        } catch {
            throw MalformedRequest("the reply sends an invalid egress message to \(typename): \(error)")
        }
    }

    private static func estimatedSize(_ request: BatchRequest) -> Int {
        var size = 256
        for state in request.states { size += state.name.utf8.count + (state.value?.value.count ?? 0) + 96 }
        for invocation in request.invocations { size += invocation.argument.value.count + invocation.argument.typeURL.utf8.count + 160 }
        return size * 2
    }
}
