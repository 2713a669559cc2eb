import CStatefunProtocol

/// The StateFun 3.x wire schema (package `io.statefun.sdk.reqreply`): values are
/// `TypedValue`s, functions declare their states with value specs, delayed
/// messages can be cancelled.
enum SchemaV3: WireSchema {
    typealias Address = Io__Statefun__Sdk__Reqreply__Address
    typealias Value = Io__Statefun__Sdk__Reqreply__TypedValue
    typealias ToFunction = Io__Statefun__Sdk__Reqreply__ToFunction
    typealias Batch = Io__Statefun__Sdk__Reqreply__ToFunction__InvocationBatchRequest
    typealias State = Io__Statefun__Sdk__Reqreply__ToFunction__PersistedValue
    typealias Invocation = Io__Statefun__Sdk__Reqreply__ToFunction__Invocation
    typealias FromFunction = Io__Statefun__Sdk__Reqreply__FromFunction
    typealias Response = Io__Statefun__Sdk__Reqreply__FromFunction__InvocationResponse
    typealias Mutation = Io__Statefun__Sdk__Reqreply__FromFunction__PersistedValueMutation
    typealias Outgoing = Io__Statefun__Sdk__Reqreply__FromFunction__Invocation
    typealias Delayed = Io__Statefun__Sdk__Reqreply__FromFunction__DelayedInvocation
    typealias Egress = Io__Statefun__Sdk__Reqreply__FromFunction__EgressMessage
    typealias Incomplete = Io__Statefun__Sdk__Reqreply__FromFunction__IncompleteInvocationContext
    typealias ValueSpecMessage = Io__Statefun__Sdk__Reqreply__FromFunction__PersistedValueSpec
    typealias Expiration = Io__Statefun__Sdk__Reqreply__FromFunction__ExpirationSpec

    static var version: ProtocolVersion { .v3 }
    static var hasValueSpecs: Bool { true }

    // MARK: Values and addresses

    @inline(__always) static func address(_ address: UnsafeMutablePointer<Address>) -> AddressFields {
        AddressFields(namespace: address.pointee.namespace_, type: address.pointee.type, id: address.pointee.id)
    }

    static func makeAddress(
        namespace: FieldBytes, type: FieldBytes, id: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Address> {
        arena.message(Address.self) { pointer in
            io__statefun__sdk__reqreply__address__init(pointer)
            pointer.pointee.namespace_ = namespace.data
            pointer.pointee.type = type.data
            pointer.pointee.id = id.data
        }
    }

    @inline(__always) static func value(_ value: UnsafeMutablePointer<Value>) -> ValueFields {
        ValueFields(typeName: value.pointee.typename_, hasValue: value.pointee.has_value != 0, bytes: value.pointee.value)
    }

    static func makeValue(
        typeName: FieldBytes, hasValue: Bool, bytes: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Value> {
        arena.message(Value.self) { pointer in
            io__statefun__sdk__reqreply__typed_value__init(pointer)
            pointer.pointee.typename_ = typeName.data
            pointer.pointee.has_value = hasValue ? 1 : 0
            pointer.pointee.value = bytes.data
        }
    }

    @inline(__always) static func setValueBytes(_ value: UnsafeMutablePointer<Value>, _ bytes: ProtobufCBinaryData) {
        value.pointee.value = bytes
    }

    // MARK: ToFunction

    static func unpackRequest(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>?, _ bytes: UnsafeBufferPointer<UInt8>
    ) -> UnsafeMutablePointer<ToFunction>? {
        io__statefun__sdk__reqreply__to_function__unpack(allocator, bytes.count, bytes.baseAddress)
    }

    static func undecodableRequest(_ body: UnsafeBufferPointer<UInt8>) -> String {
        "the body is not a serialized ToFunction (StateFun 3.x protocol)"
    }

    @inline(__always) static func batch(_ request: UnsafeMutablePointer<ToFunction>) -> UnsafeMutablePointer<Batch>? {
        request.pointee.request_case == IO__STATEFUN__SDK__REQREPLY__TO_FUNCTION__REQUEST_INVOCATION
            ? request.pointee.invocation : nil
    }

    @inline(__always) static func target(_ batch: UnsafeMutablePointer<Batch>) -> UnsafeMutablePointer<Address>? {
        batch.pointee.target
    }

    @inline(__always) static func states(_ batch: UnsafeMutablePointer<Batch>) -> UnsafeBufferPointer<UnsafeMutablePointer<State>?> {
        UnsafeBufferPointer(start: batch.pointee.state, count: batch.pointee.n_state)
    }

    @inline(__always) static func invocations(
        _ batch: UnsafeMutablePointer<Batch>
    ) -> UnsafeBufferPointer<UnsafeMutablePointer<Invocation>?> {
        UnsafeBufferPointer(start: batch.pointee.invocations, count: batch.pointee.n_invocations)
    }

    @inline(__always) static func state(
        _ state: UnsafeMutablePointer<State>
    ) -> (name: ProtobufCBinaryData, value: UnsafeMutablePointer<Value>?) {
        (state.pointee.state_name, state.pointee.state_value)
    }

    @inline(__always) static func invocation(
        _ invocation: UnsafeMutablePointer<Invocation>
    ) -> (caller: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>?) {
        (invocation.pointee.caller, invocation.pointee.argument)
    }

    /// A state without a value, or whose value lacks `has_value`, has none; its
    /// type name is the value's typename, which must still be UTF-8.
    static func stateValue(
        _ value: UnsafeMutablePointer<Value>?, typeNames: inout FieldInterner, exact: Bool, _ what: () -> String
    ) throws -> AnyMessage? {
        guard let value else { return nil }
        guard value.pointee.has_value != 0 else {
            try requireUTF8(value.pointee.typename_, in: "the type name of a state")
            return nil
        }
        return AnyMessage(
            typeURL: try typeNames.string(value.pointee.typename_, field: "the type name of a state"),
            value: [UInt8](protobufC: value.pointee.value))
    }

    static var argumentTypeNameField: String { "an argument's type name" }

    static func makeRequest(_ batch: UnsafeMutablePointer<Batch>, in arena: Arena) -> UnsafeMutablePointer<ToFunction> {
        arena.message(ToFunction.self) {
            io__statefun__sdk__reqreply__to_function__init($0)
            $0.pointee.request_case = IO__STATEFUN__SDK__REQREPLY__TO_FUNCTION__REQUEST_INVOCATION
            $0.pointee.invocation = batch
        }
    }

    static func makeBatch(
        target: UnsafeMutablePointer<Address>, states: UnsafeMutableBufferPointer<UnsafeMutablePointer<State>?>,
        invocations: UnsafeMutableBufferPointer<UnsafeMutablePointer<Invocation>?>, in arena: Arena
    ) -> UnsafeMutablePointer<Batch> {
        arena.message(Batch.self) { batch in
            io__statefun__sdk__reqreply__to_function__invocation_batch_request__init(batch)
            batch.pointee.target = target
            batch.pointee.n_state = states.count
            batch.pointee.state = states.baseAddress
            batch.pointee.n_invocations = invocations.count
            batch.pointee.invocations = invocations.baseAddress
        }
    }

    /// Every state is sent with a `TypedValue` of its declared type; one
    /// without a value has no `has_value`.
    static func makeState(name: String, value: AnyMessage?, typeName: String?, in arena: Arena) -> UnsafeMutablePointer<State> {
        arena.message(State.self) { state in
            io__statefun__sdk__reqreply__to_function__persisted_value__init(state)
            state.pointee.state_name = arena.string(name).data
            state.pointee.state_value = makeValue(
                typeName: arena.string(typeName ?? value?.typeURL ?? ""), hasValue: value != nil,
                bytes: arena.binary(value?.value ?? []), in: arena)
        }
    }

    static func makeInvocation(
        caller: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Invocation> {
        arena.message(Invocation.self) { invocation in
            io__statefun__sdk__reqreply__to_function__invocation__init(invocation)
            invocation.pointee.caller = caller
            invocation.pointee.argument = argument
        }
    }

    // MARK: FromFunction

    static func unpackReply(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>?, _ bytes: UnsafeBufferPointer<UInt8>
    ) -> UnsafeMutablePointer<FromFunction>? {
        io__statefun__sdk__reqreply__from_function__unpack(allocator, bytes.count, bytes.baseAddress)
    }

    static func undecodableReply(_ body: UnsafeBufferPointer<UInt8>) -> String {
        "the reply is not a serialized FromFunction (StateFun 3.x)"
    }

    static func response(_ reply: UnsafeMutablePointer<FromFunction>) -> UnsafeMutablePointer<Response>? {
        reply.pointee.response_case == IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
            ? reply.pointee.invocation_result : nil
    }

    static func missingValues(_ reply: UnsafeMutablePointer<FromFunction>) -> [ValueSpec]? {
        guard reply.pointee.response_case == IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INCOMPLETE_INVOCATION_CONTEXT,
              let incomplete = reply.pointee.incomplete_invocation_context
        else { return nil }
        return UnsafeBufferPointer(start: incomplete.pointee.missing_values, count: incomplete.pointee.n_missing_values)
            .compactMap { $0.map(valueSpec) }
    }

    private static func valueSpec(_ spec: UnsafeMutablePointer<ValueSpecMessage>) -> ValueSpec {
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

    static func mutations(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Mutation>?> {
        UnsafeBufferPointer(start: response.pointee.state_mutations, count: response.pointee.n_state_mutations)
    }

    static func outgoing(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Outgoing>?> {
        UnsafeBufferPointer(start: response.pointee.outgoing_messages, count: response.pointee.n_outgoing_messages)
    }

    static func delayed(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Delayed>?> {
        UnsafeBufferPointer(start: response.pointee.delayed_invocations, count: response.pointee.n_delayed_invocations)
    }

    static func egress(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Egress>?> {
        UnsafeBufferPointer(start: response.pointee.outgoing_egresses, count: response.pointee.n_outgoing_egresses)
    }

    /// A MODIFY without a value carries none: it deletes, as the runtime reads it.
    static func mutation(_ mutation: UnsafeMutablePointer<Mutation>) -> (name: ProtobufCBinaryData, value: AnyMessage?) {
        let modify = mutation.pointee.mutation_type
            == IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
        return (mutation.pointee.state_name, modify ? mutation.pointee.state_value.map { AnyMessage(repairing: value($0)) } : nil)
    }

    static func outgoing(
        _ outgoing: UnsafeMutablePointer<Outgoing>
    ) -> (target: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>?) {
        (outgoing.pointee.target, outgoing.pointee.argument)
    }

    static func delayed(_ delayed: UnsafeMutablePointer<Delayed>) -> DelayedFields<Self> {
        DelayedFields(
            delayInMilliseconds: delayed.pointee.delay_in_ms, target: delayed.pointee.target,
            argument: delayed.pointee.argument, isCancellation: delayed.pointee.is_cancellation_request != 0,
            cancellationToken: delayed.pointee.cancellation_token)
    }

    static func egress(
        _ egress: UnsafeMutablePointer<Egress>
    ) -> (namespace: ProtobufCBinaryData, type: ProtobufCBinaryData, argument: UnsafeMutablePointer<Value>?) {
        (egress.pointee.egress_namespace, egress.pointee.egress_type, egress.pointee.argument)
    }

    static func packReply(_ response: UnsafeMutablePointer<Response>, in arena: Arena) -> [UInt8] {
        pack(arena) {
            $0.response_case = IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
            $0.invocation_result = response
        }
    }

    private static func pack(_ arena: Arena, _ fill: (inout FromFunction) -> Void) -> [UInt8] {
        var fromFunction = FromFunction()
        io__statefun__sdk__reqreply__from_function__init(&fromFunction)
        fill(&fromFunction)
        return withUnsafePointer(to: &fromFunction) {
            $0.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { arena.pack($0) }
        }
    }

    @inline(__always) static func makeResponse(in arena: Arena) -> UnsafeMutablePointer<Response> {
        arena.message(Response.self) { io__statefun__sdk__reqreply__from_function__invocation_response__init($0) }
    }

    @inline(__always) static func setMutations(
        _ response: UnsafeMutablePointer<Response>, _ mutations: UnsafeMutablePointer<UnsafeMutablePointer<Mutation>?>, count: Int
    ) {
        response.pointee.n_state_mutations = count
        response.pointee.state_mutations = mutations
    }

    @inline(__always) static func setOutgoing(
        _ response: UnsafeMutablePointer<Response>, _ outgoing: UnsafeMutablePointer<UnsafeMutablePointer<Outgoing>?>, count: Int
    ) {
        response.pointee.n_outgoing_messages = count
        response.pointee.outgoing_messages = outgoing
    }

    @inline(__always) static func setDelayed(
        _ response: UnsafeMutablePointer<Response>, _ delayed: UnsafeMutablePointer<UnsafeMutablePointer<Delayed>?>, count: Int
    ) {
        response.pointee.n_delayed_invocations = count
        response.pointee.delayed_invocations = delayed
    }

    @inline(__always) static func setEgress(
        _ response: UnsafeMutablePointer<Response>, _ egress: UnsafeMutablePointer<UnsafeMutablePointer<Egress>?>, count: Int
    ) {
        response.pointee.n_outgoing_egresses = count
        response.pointee.outgoing_egresses = egress
    }

    @inline(__always) static func makeMutation(
        name: FieldBytes, value: UnsafeMutablePointer<Value>?, in arena: Arena
    ) -> UnsafeMutablePointer<Mutation> {
        arena.message(Mutation.self) { mutation in
            io__statefun__sdk__reqreply__from_function__persisted_value_mutation__init(mutation)
            mutation.pointee.state_name = name.data
            mutation.pointee.mutation_type = value != nil
                ? IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
                : IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__DELETE
            mutation.pointee.state_value = value
        }
    }

    @inline(__always) static func makeOutgoing(
        target: UnsafeMutablePointer<Address>, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Outgoing> {
        arena.message(Outgoing.self) { outgoing in
            io__statefun__sdk__reqreply__from_function__invocation__init(outgoing)
            outgoing.pointee.target = target
            outgoing.pointee.argument = argument
        }
    }

    static func makeDelayed(
        delayInMilliseconds: Int64, target: UnsafeMutablePointer<Address>, argument: UnsafeMutablePointer<Value>,
        cancellationToken: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Delayed> {
        arena.message(Delayed.self) { delayed in
            io__statefun__sdk__reqreply__from_function__delayed_invocation__init(delayed)
            delayed.pointee.delay_in_ms = delayInMilliseconds
            delayed.pointee.target = target
            delayed.pointee.argument = argument
            delayed.pointee.cancellation_token = cancellationToken.data
        }
    }

    static func makeCancellation(token: FieldBytes, in arena: Arena) -> UnsafeMutablePointer<Delayed>? {
        arena.message(Delayed.self) { delayed in
            io__statefun__sdk__reqreply__from_function__delayed_invocation__init(delayed)
            delayed.pointee.is_cancellation_request = 1
            delayed.pointee.cancellation_token = token.data
        }
    }

    @inline(__always) static func makeEgress(
        namespace: FieldBytes, type: FieldBytes, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Egress> {
        arena.message(Egress.self) { egress in
            io__statefun__sdk__reqreply__from_function__egress_message__init(egress)
            egress.pointee.egress_namespace = namespace.data
            egress.pointee.egress_type = type.data
            egress.pointee.argument = argument
        }
    }

    static func incompleteContextReply(missing specs: [ValueSpec]) -> [UInt8]? {
        let arena = Arena(capacity: 1024)
        let incomplete = incompleteContext(missing: specs, in: arena)
        return pack(arena) {
            $0.response_case = IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INCOMPLETE_INVOCATION_CONTEXT
            $0.incomplete_invocation_context = incomplete
        }
    }

    /// The `IncompleteInvocationContext` that asks for `specs`, built in `arena`.
    static func incompleteContext(missing specs: [ValueSpec], in arena: Arena) -> UnsafeMutablePointer<Incomplete> {
        let missing = arena.pointers(to: ValueSpecMessage.self, count: specs.count)
        for (i, spec) in specs.enumerated() {
            missing[i] = arena.message(ValueSpecMessage.self) { message in
                io__statefun__sdk__reqreply__from_function__persisted_value_spec__init(message)
                message.pointee.state_name = arena.string(spec.name).data
                message.pointee.type_typename = arena.string(spec.typeName).data
                message.pointee.expiration_spec = arena.message(Expiration.self) { expiration in
                    io__statefun__sdk__reqreply__from_function__expiration_spec__init(expiration)
                    switch spec.expiration {
                    case .none:
                        expiration.pointee.mode = IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__NONE
                    case .afterWrite(let duration):
                        expiration.pointee.mode = IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__AFTER_WRITE
                        expiration.pointee.expire_after_millis = milliseconds(duration)
                    case .afterInvoke(let duration):
                        expiration.pointee.mode = IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__AFTER_INVOKE
                        expiration.pointee.expire_after_millis = milliseconds(duration)
                    }
                }
            }
        }
        return arena.message(Incomplete.self) { incomplete in
            io__statefun__sdk__reqreply__from_function__incomplete_invocation_context__init(incomplete)
            incomplete.pointee.n_missing_values = specs.count
            incomplete.pointee.missing_values = missing
        }
    }

    /// An expiration in the protocol's milliseconds. A bound spec's always fits
    /// (``ValueSpec`` refuses one that does not when it is bound).
    static func milliseconds(_ duration: Duration) -> Int64 {
        (try? wholeMilliseconds(duration, "an expiration")) ?? .max
    }
}

extension AnyMessage {
    /// A value read from the SDK's own reply (the runtime's side): not checked.
    init(repairing fields: ValueFields) {
        self.init(typeURL: String(repairing: fields.typeName), value: [UInt8](protobufC: fields.bytes))
    }
}
