import CStatefunProtocol

typealias ProtoAny = Google__Protobuf__Any

/// The StateFun 2.x wire schema (package `org.apache.flink.statefun.flink.core.polyglot`):
/// values are `google.protobuf.Any`s; a state's value is an `Any` in a `bytes`
/// field (Protos/ declares it as the message, so that protobuf-c decodes it in
/// place); module.yaml declares the states; delayed messages cannot be cancelled.
enum SchemaV2: WireSchema {
    typealias Address = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__Address
    typealias Value = ProtoAny
    typealias ToFunction = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction
    typealias Batch = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction__InvocationBatchRequest
    typealias State = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction__PersistedValue
    typealias Invocation = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction__Invocation
    typealias FromFunction = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction
    typealias Response = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__InvocationResponse
    typealias Mutation = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__PersistedValueMutation
    typealias Outgoing = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__Invocation
    typealias Delayed = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__DelayedInvocation
    typealias Egress = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__EgressMessage

    static var version: ProtocolVersion { .v2 }
    static var hasValueSpecs: Bool { false }

    // MARK: Values and addresses

    @inline(__always) static func address(_ address: UnsafeMutablePointer<Address>) -> AddressFields {
        AddressFields(namespace: address.pointee.namespace_, type: address.pointee.type, id: address.pointee.id)
    }

    static func makeAddress(
        namespace: FieldBytes, type: FieldBytes, id: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Address> {
        arena.message(Address.self) { pointer in
            org__apache__flink__statefun__flink__core__polyglot__address__init(pointer)
            pointer.pointee.namespace_ = namespace.data
            pointer.pointee.type = type.data
            pointer.pointee.id = id.data
        }
    }

    @inline(__always) static func value(_ value: UnsafeMutablePointer<Value>) -> ValueFields {
        ValueFields(typeName: value.pointee.type_url, hasValue: true, bytes: value.pointee.value)
    }

    static func makeValue(
        typeName: FieldBytes, hasValue: Bool, bytes: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Value> {
        arena.message(Value.self) { pointer in
            google__protobuf__any__init(pointer)
            pointer.pointee.type_url = typeName.data
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
        org__apache__flink__statefun__flink__core__polyglot__to_function__unpack(allocator, bytes.count, bytes.baseAddress)
    }

    static func undecodableRequest(_ body: UnsafeBufferPointer<UInt8>) -> String {
        malformedStateValue(body, states: 2, name: 1, value: 2, what: "the value of state")
            ?? "the body is not a serialized ToFunction (StateFun 2.x protocol)"
    }

    @inline(__always) static func batch(_ request: UnsafeMutablePointer<ToFunction>) -> UnsafeMutablePointer<Batch>? {
        request.pointee.request_case == ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__TO_FUNCTION__REQUEST_INVOCATION
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

    /// The `Any` protobuf-c decoded in place of the `bytes` that hold it, or
    /// `nil` when those bytes are empty.
    ///
    /// The official SDK reads a state whose bytes are empty as absent, and any
    /// other as an `Any`, even one of no type and no value (its reads then
    /// fail). protobuf-c decodes both as an empty `Any`: such a value takes the
    /// exact path, whose bytes leave an empty value out; so does a type URL
    /// that is not UTF-8 (refused there with the field's name).
    static func stateValue(
        _ value: UnsafeMutablePointer<Value>?, typeNames: inout FieldInterner, exact: Bool, _ what: () -> String
    ) throws -> AnyMessage? {
        guard let value else { return nil }
        if value.pointee.type_url.len == 0 && value.pointee.value.len == 0 {
            guard exact else { throw IrregularRequest() }
            return AnyMessage(typeURL: "", value: [])
        }
        do {
            return AnyMessage(
                typeURL: try String(utf8Field: value.pointee.type_url, what() + ": its type URL"),
                value: [UInt8](protobufC: value.pointee.value))
        } catch where !exact {
            throw IrregularRequest()
        }
    }

    static var argumentTypeNameField: String { "an argument's type URL" }

    static func makeRequest(_ batch: UnsafeMutablePointer<Batch>, in arena: Arena) -> UnsafeMutablePointer<ToFunction> {
        arena.message(ToFunction.self) {
            org__apache__flink__statefun__flink__core__polyglot__to_function__init($0)
            $0.pointee.request_case = ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__TO_FUNCTION__REQUEST_INVOCATION
            $0.pointee.invocation = batch
        }
    }

    static func makeBatch(
        target: UnsafeMutablePointer<Address>, states: UnsafeMutableBufferPointer<UnsafeMutablePointer<State>?>,
        invocations: UnsafeMutableBufferPointer<UnsafeMutablePointer<Invocation>?>, in arena: Arena
    ) -> UnsafeMutablePointer<Batch> {
        arena.message(Batch.self) { batch in
            org__apache__flink__statefun__flink__core__polyglot__to_function__invocation_batch_request__init(batch)
            batch.pointee.target = target
            batch.pointee.n_state = states.count
            batch.pointee.state = states.baseAddress
            batch.pointee.n_invocations = invocations.count
            batch.pointee.invocations = invocations.baseAddress
        }
    }

    /// A state without a value is sent without its `Any` (empty bytes).
    static func makeState(name: String, value: AnyMessage?, typeName: String?, in arena: Arena) -> UnsafeMutablePointer<State> {
        arena.message(State.self) { state in
            org__apache__flink__statefun__flink__core__polyglot__to_function__persisted_value__init(state)
            state.pointee.state_name = arena.string(name).data
            if let value {
                state.pointee.state_value = makeValue(
                    typeName: arena.string(value.typeURL), hasValue: true, bytes: arena.binary(value.value), in: arena)
            }
        }
    }

    static func makeInvocation(
        caller: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Invocation> {
        arena.message(Invocation.self) { invocation in
            org__apache__flink__statefun__flink__core__polyglot__to_function__invocation__init(invocation)
            invocation.pointee.caller = caller
            invocation.pointee.argument = argument
        }
    }

    // MARK: FromFunction

    static func unpackReply(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>?, _ bytes: UnsafeBufferPointer<UInt8>
    ) -> UnsafeMutablePointer<FromFunction>? {
        org__apache__flink__statefun__flink__core__polyglot__from_function__unpack(allocator, bytes.count, bytes.baseAddress)
    }

    static func undecodableReply(_ body: UnsafeBufferPointer<UInt8>) -> String {
        malformedStateValue(body, states: 1, name: 2, value: 3, what: "the new value of state")
            ?? "the reply is not a serialized FromFunction (StateFun 2.x)"
    }

    static func response(_ reply: UnsafeMutablePointer<FromFunction>) -> UnsafeMutablePointer<Response>? {
        reply.pointee.response_case == ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
            ? reply.pointee.invocation_result : nil
    }

    static func missingValues(_ reply: UnsafeMutablePointer<FromFunction>) -> [ValueSpec]? { nil }

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

    /// A MODIFY of empty bytes (no embedded `Any`) stores an empty `Any`, as the runtime stores it.
    static func mutation(_ mutation: UnsafeMutablePointer<Mutation>) -> (name: ProtobufCBinaryData, value: AnyMessage?) {
        let modify = mutation.pointee.mutation_type
            == ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
        guard modify else { return (mutation.pointee.state_name, nil) }
        return (mutation.pointee.state_name,
                mutation.pointee.state_value.map { AnyMessage(repairing: value($0)) } ?? AnyMessage(typeURL: "", value: []))
    }

    static func outgoing(
        _ outgoing: UnsafeMutablePointer<Outgoing>
    ) -> (target: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>?) {
        (outgoing.pointee.target, outgoing.pointee.argument)
    }

    static func delayed(_ delayed: UnsafeMutablePointer<Delayed>) -> DelayedFields<Self> {
        DelayedFields(
            delayInMilliseconds: delayed.pointee.delay_in_ms, target: delayed.pointee.target,
            argument: delayed.pointee.argument, isCancellation: false, cancellationToken: ValueFields.empty)
    }

    static func egress(
        _ egress: UnsafeMutablePointer<Egress>
    ) -> (namespace: ProtobufCBinaryData, type: ProtobufCBinaryData, argument: UnsafeMutablePointer<Value>?) {
        (egress.pointee.egress_namespace, egress.pointee.egress_type, egress.pointee.argument)
    }

    static func packReply(_ response: UnsafeMutablePointer<Response>, in arena: Arena) -> [UInt8] {
        var fromFunction = FromFunction()
        org__apache__flink__statefun__flink__core__polyglot__from_function__init(&fromFunction)
        fromFunction.response_case =
            ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
        fromFunction.invocation_result = response
        return withUnsafePointer(to: &fromFunction) {
            $0.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { arena.pack($0) }
        }
    }

    @inline(__always) static func makeResponse(in arena: Arena) -> UnsafeMutablePointer<Response> {
        arena.message(Response.self) {
            org__apache__flink__statefun__flink__core__polyglot__from_function__invocation_response__init($0)
        }
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
            org__apache__flink__statefun__flink__core__polyglot__from_function__persisted_value_mutation__init(mutation)
            mutation.pointee.state_name = name.data
            mutation.pointee.mutation_type = value != nil
                ? ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
                : ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__DELETE
            mutation.pointee.state_value = value
        }
    }

    @inline(__always) static func makeOutgoing(
        target: UnsafeMutablePointer<Address>, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Outgoing> {
        arena.message(Outgoing.self) { outgoing in
            org__apache__flink__statefun__flink__core__polyglot__from_function__invocation__init(outgoing)
            outgoing.pointee.target = target
            outgoing.pointee.argument = argument
        }
    }

    /// 2.x has no cancellation token: `cancellationToken` is always empty here.
    static func makeDelayed(
        delayInMilliseconds: Int64, target: UnsafeMutablePointer<Address>, argument: UnsafeMutablePointer<Value>,
        cancellationToken: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Delayed> {
        arena.message(Delayed.self) { delayed in
            org__apache__flink__statefun__flink__core__polyglot__from_function__delayed_invocation__init(delayed)
            delayed.pointee.delay_in_ms = delayInMilliseconds
            delayed.pointee.target = target
            delayed.pointee.argument = argument
        }
    }

    /// 2.x has no cancellation (the context refuses one): none is encoded.
    static func makeCancellation(token: FieldBytes, in arena: Arena) -> UnsafeMutablePointer<Delayed>? { nil }

    @inline(__always) static func makeEgress(
        namespace: FieldBytes, type: FieldBytes, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Egress> {
        arena.message(Egress.self) { egress in
            org__apache__flink__statefun__flink__core__polyglot__from_function__egress_message__init(egress)
            egress.pointee.egress_namespace = namespace.data
            egress.pointee.egress_type = type.data
            egress.pointee.argument = argument
        }
    }

    static func incompleteContextReply(missing specs: [ValueSpec]) -> [UInt8]? { nil }

    /// Why protobuf-c refused a body, when the cause is a state value that is not
    /// a serialized `Any` (the schema decodes state values as part of the body).
    /// The states are field `states` of the message in field 100 (the request's
    /// batch, the reply's result), each with its `name` and `value` fields.
    static func malformedStateValue(
        _ body: UnsafeBufferPointer<UInt8>, states: UInt64, name: UInt64, value: UInt64, what: String
    ) -> String? {
        guard let batch = lengthDelimitedFields(body, number: 100)?.last,
              let states = lengthDelimitedFields(batch, number: states)
        else { return nil }
        for state in states {
            guard let values = lengthDelimitedFields(state, number: value) else { return nil }
            for bytes in values {
                guard let any = google__protobuf__any__unpack(nil, bytes.count, bytes.baseAddress) else {
                    let name = lengthDelimitedFields(state, number: name)?.last.map { String(decoding: $0, as: UTF8.self) }
                    return "\(what) '\(name ?? "")' is not a serialized google.protobuf.Any"
                }
                google__protobuf__any__free_unpacked(any, nil)
            }
        }
        return nil
    }
}
