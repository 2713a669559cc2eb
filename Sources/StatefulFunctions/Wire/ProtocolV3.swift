import CStatefunProtocol

// The StateFun 3.x wire schema (package io.statefun.sdk.reqreply).
typealias V3Address = Io__Statefun__Sdk__Reqreply__Address
typealias V3TypedValue = Io__Statefun__Sdk__Reqreply__TypedValue
typealias V3FromFunction = Io__Statefun__Sdk__Reqreply__FromFunction
typealias V3Response = Io__Statefun__Sdk__Reqreply__FromFunction__InvocationResponse
typealias V3Mutation = Io__Statefun__Sdk__Reqreply__FromFunction__PersistedValueMutation
typealias V3Outgoing = Io__Statefun__Sdk__Reqreply__FromFunction__Invocation
typealias V3Delayed = Io__Statefun__Sdk__Reqreply__FromFunction__DelayedInvocation
typealias V3Egress = Io__Statefun__Sdk__Reqreply__FromFunction__EgressMessage
typealias V3Incomplete = Io__Statefun__Sdk__Reqreply__FromFunction__IncompleteInvocationContext
typealias V3ValueSpec = Io__Statefun__Sdk__Reqreply__FromFunction__PersistedValueSpec
typealias V3Expiration = Io__Statefun__Sdk__Reqreply__FromFunction__ExpirationSpec

/// Decoding and encoding of the 3.x protocol through protobuf-c.
enum ProtocolV3 {
    /// Decodes a `ToFunction` body. A state's value is `nil` when the runtime
    /// sent it without a value; its type name is the value's `typeURL`.
    static func decodeRequest(_ body: [UInt8], functions: FunctionTable) throws -> InvocationBatch {
        try InvocationBatch.decoded(body, .v3, functions: functions) {
            try decode($0, functions: functions, expectedFrees: $1)
        }
    }

    /// Decodes `body`, which has `expectedFrees` protobuf-c frees when it is exact
    /// (`nil`: not surveyed, or not exact: the normalizer's path).
    static func decode(_ body: [UInt8], functions: FunctionTable, expectedFrees: Int?) throws -> InvocationBatch {
        let arena = Arena(capacity: body.count * 2 + 4096)
        return try arena.withAllocator { allocator in
            let decoded = body.withUnsafeBufferPointer { buffer in
                io__statefun__sdk__reqreply__to_function__unpack(allocator, buffer.count, buffer.baseAddress)
            }
            guard let toFunction = decoded, expectedFrees.map({ $0 == arena.frees }) ?? true else {
                if expectedFrees != nil { throw IrregularRequest() }
                throw MalformedRequest("the body is not a serialized ToFunction (StateFun 3.x protocol)")
            }
            guard toFunction.pointee.request_case == IO__STATEFUN__SDK__REQREPLY__TO_FUNCTION__REQUEST_INVOCATION,
                  let batch = toFunction.pointee.invocation
            else { throw MalformedRequest("the ToFunction carries no invocation batch") }
            let target = batch.pointee.target
            let (address, entry) = try InvocationBatch.resolveTarget(
                target?.pointee.namespace_, target?.pointee.type, target?.pointee.id, in: functions)

            var stateTypeNames = FieldInterner(known: entry.map { functions.entries[$0].stateTypeNames } ?? [])
            var states: [StateSlot] = []
            states.reserveCapacity(batch.pointee.n_state)
            for case let state? in UnsafeBufferPointer(start: batch.pointee.state, count: batch.pointee.n_state) {
                let name = try String(utf8Field: state.pointee.state_name, "a state name")
                let typedValue = state.pointee.state_value
                let value: AnyMessage?
                if let typedValue, typedValue.pointee.has_value != 0 {
                    value = AnyMessage(
                        typeURL: try stateTypeNames.string(typedValue.pointee.typename_, field: "the type name of a state"),
                        value: arena.bytes(typedValue.pointee.value))
                } else {
                    if let typedValue { try requireUTF8(typedValue.pointee.typename_, in: "the type name of a state") }
                    value = nil
                }
                states.append(StateSlot(name: name, value: value))
            }

            let invocations = try InvocationBatch.invocations(
                batch.pointee.invocations, count: batch.pointee.n_invocations, for: address,
                knownTypeNames: entry.map { functions.entries[$0].messageTypeNames } ?? [], in: functions,
                typeNameField: "an argument's type name", invocationFields)
            return try InvocationBatch.checked(
                target: address, entry: entry, states: states, invocations: invocations, arena: arena)
        }
    }

    /// The caller and argument fields of one decoded invocation.
    private static func invocationFields(
        _ invocation: UnsafeMutablePointer<Io__Statefun__Sdk__Reqreply__ToFunction__Invocation>
    ) -> InvocationBatch.InvocationFields {
        var fields = InvocationBatch.InvocationFields()
        if let caller: UnsafeMutablePointer<V3Address> = invocation.pointee.caller {
            fields.caller = (caller.pointee.namespace_, caller.pointee.type, caller.pointee.id)
        }
        if let argument = invocation.pointee.argument {
            // A value without has_value is no value, as the official SDK reads it.
            fields.argument = (argument.pointee.typename_,
                               argument.pointee.has_value != 0 ? argument.pointee.value : ProtobufCBinaryData(len: 0, data: nil))
        }
        return fields
    }

    /// Encodes the effects of a completed batch: the changed states (MODIFY
    /// carries the declared type name), then every message in emission order.
    ///
    /// - Parameter arena: where the response is built: the request's own arena
    ///   when the handler has it (one arena a request), else a new one.
    static func encodeResponse(_ context: Context, in arena: Arena? = nil) -> [UInt8] {
        let arena = arena ?? Arena(capacity: 4096)
        let response = arena.message(V3Response.self) {
            io__statefun__sdk__reqreply__from_function__invocation_response__init($0)
        }
        let mutations = context.modifiedStateCount
        response.pointee.n_state_mutations = mutations
        response.pointee.state_mutations = arena.pointers(to: V3Mutation.self, count: mutations)
        var i = 0
        // Slots are read in place, as the egresses below (a copy retains each of their strings).
        let states = context.states
        for index in states.indices where states[index].modified {
            defer { i += 1 }
            response.pointee.state_mutations[i] = arena.message(V3Mutation.self) { mutation in
                io__statefun__sdk__reqreply__from_function__persisted_value_mutation__init(mutation)
                mutation.pointee.state_name = arena.string(states[index].name)
                if states[index].value != nil {
                    mutation.pointee.mutation_type =
                        IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
                    mutation.pointee.state_value = typedValue(
                        states[index].typeName ?? states[index].value!.typeURL, states[index].value!.value, arena)
                } else {
                    mutation.pointee.mutation_type =
                        IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__DELETE
                }
            }
        }

        response.pointee.n_outgoing_messages = context.outgoing.count
        response.pointee.outgoing_messages = arena.pointers(to: V3Outgoing.self, count: context.outgoing.count)
        for (i, message) in context.outgoing.enumerated() {
            response.pointee.outgoing_messages[i] = arena.message(V3Outgoing.self) { outgoing in
                io__statefun__sdk__reqreply__from_function__invocation__init(outgoing)
                outgoing.pointee.target = address(message.target, arena)
                outgoing.pointee.argument = typedValue(message.message, arena)
            }
        }

        response.pointee.n_delayed_invocations = context.delayed.count
        response.pointee.delayed_invocations = arena.pointers(to: V3Delayed.self, count: context.delayed.count)
        for (i, effect) in context.delayed.enumerated() {
            response.pointee.delayed_invocations[i] = arena.message(V3Delayed.self) { delayed in
                io__statefun__sdk__reqreply__from_function__delayed_invocation__init(delayed)
                switch effect {
                case let .message(delay, message, token):
                    delayed.pointee.delay_in_ms = delay
                    delayed.pointee.target = address(message.target, arena)
                    delayed.pointee.argument = typedValue(message.message, arena)
                    if let token { delayed.pointee.cancellation_token = arena.string(token) }
                case let .cancellation(token):
                    delayed.pointee.is_cancellation_request = 1
                    delayed.pointee.cancellation_token = arena.string(token)
                }
            }
        }

        // Elements are read in place (not copied out, which would retain each of their strings).
        let egress = context.egress
        response.pointee.n_outgoing_egresses = egress.count
        response.pointee.outgoing_egresses = arena.pointers(to: V3Egress.self, count: egress.count)
        for i in egress.indices {
            let message = arena.message(V3Egress.self) {
                io__statefun__sdk__reqreply__from_function__egress_message__init($0)
            }
            (message.pointee.egress_namespace, message.pointee.egress_type) = arena.strings(egress[i].egress)
            message.pointee.argument = typedValue(egress[i].message.typeURL, egress[i].message.value, arena)
            response.pointee.outgoing_egresses[i] = message
        }

        return pack(arena) { fromFunction in
            fromFunction.response_case = IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
            fromFunction.invocation_result = response
        }
    }

    /// Encodes the answer to a request that lacks declared states: the runtime
    /// registers these specs and sends the same batch again.
    static func encodeIncompleteContext(missing specs: [ValueSpec]) -> [UInt8] {
        let arena = Arena(capacity: 1024)
        let incomplete = arena.message(V3Incomplete.self) {
            io__statefun__sdk__reqreply__from_function__incomplete_invocation_context__init($0)
        }
        incomplete.pointee.n_missing_values = specs.count
        incomplete.pointee.missing_values = arena.pointers(to: V3ValueSpec.self, count: specs.count)
        for (i, spec) in specs.enumerated() {
            incomplete.pointee.missing_values[i] = arena.message(V3ValueSpec.self) { missing in
                io__statefun__sdk__reqreply__from_function__persisted_value_spec__init(missing)
                missing.pointee.state_name = arena.string(spec.name)
                missing.pointee.type_typename = arena.string(spec.typeName)
                missing.pointee.expiration_spec = arena.message(V3Expiration.self) { expiration in
                    io__statefun__sdk__reqreply__from_function__expiration_spec__init(expiration)
                    switch spec.expiration {
                    case .none:
                        expiration.pointee.mode = IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__NONE
                    case .afterWrite(let duration):
                        expiration.pointee.mode =
                            IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__AFTER_WRITE
                        expiration.pointee.expire_after_millis = milliseconds(duration)
                    case .afterInvoke(let duration):
                        expiration.pointee.mode =
                            IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__EXPIRATION_SPEC__EXPIRE_MODE__AFTER_INVOKE
                        expiration.pointee.expire_after_millis = milliseconds(duration)
                    }
                }
            }
        }
        return pack(arena) { fromFunction in
            fromFunction.response_case =
                IO__STATEFUN__SDK__REQREPLY__FROM_FUNCTION__RESPONSE_INCOMPLETE_INVOCATION_CONTEXT
            fromFunction.incomplete_invocation_context = incomplete
        }
    }

    // MARK: Pieces

    private static func pack(_ arena: Arena, _ fill: (inout V3FromFunction) -> Void) -> [UInt8] {
        var fromFunction = V3FromFunction()
        io__statefun__sdk__reqreply__from_function__init(&fromFunction)
        fill(&fromFunction)
        return withUnsafePointer(to: &fromFunction) {
            $0.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { arena.pack($0) }
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1000).partialValue &+ attoseconds / 1_000_000_000_000_000
    }

    /// A decoded address, from the SDK's own reply (the runtime kit's side): not checked.
    static func address(_ pointer: UnsafeMutablePointer<V3Address>) -> Address {
        Address(
            FunctionType(namespace: String(repairing: pointer.pointee.namespace_), name: String(repairing: pointer.pointee.type)),
            id: String(repairing: pointer.pointee.id))
    }

    static func address(_ address: Address, _ arena: Arena) -> UnsafeMutablePointer<V3Address> {
        arena.message(V3Address.self) { pointer in
            io__statefun__sdk__reqreply__address__init(pointer)
            (pointer.pointee.namespace_, pointer.pointee.type) = arena.strings(address.functionType)
            pointer.pointee.id = arena.string(address.id)
        }
    }

    static func typedValue(_ pointer: UnsafeMutablePointer<V3TypedValue>) -> AnyMessage {
        AnyMessage(typeURL: String(repairing: pointer.pointee.typename_), value: [UInt8](protobufC: pointer.pointee.value))
    }

    static func typedValue(_ message: AnyMessage, _ arena: Arena) -> UnsafeMutablePointer<V3TypedValue> {
        typedValue(message.typeURL, message.value, arena)
    }

    static func typedValue(_ typeName: String, _ value: [UInt8], _ arena: Arena) -> UnsafeMutablePointer<V3TypedValue> {
        let pointer = arena.message(V3TypedValue.self) { io__statefun__sdk__reqreply__typed_value__init($0) }
        pointer.pointee.typename_ = arena.string(typeName)
        pointer.pointee.has_value = 1
        pointer.pointee.value = arena.binary(value)
        return pointer
    }
}
