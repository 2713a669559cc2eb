import CStatefunProtocol

// The StateFun 2.x wire schema (package org.apache.flink.statefun.flink.core.polyglot).
typealias V2Address = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__Address
typealias V2ToFunction = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction
typealias V2FromFunction = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction
typealias V2Response = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__InvocationResponse
typealias V2Mutation = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__PersistedValueMutation
typealias V2Outgoing = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__Invocation
typealias V2Delayed = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__DelayedInvocation
typealias V2Egress = Org__Apache__Flink__Statefun__Flink__Core__Polyglot__FromFunction__EgressMessage
typealias ProtoAny = Google__Protobuf__Any

/// One decoded `ToFunction`: the target address, its states before the batch,
/// and the invocations to run in order.
struct InvocationBatch {
    let target: Address
    /// The handler's entry for the target's function type; `nil` when none is bound.
    let entry: Int?
    /// The states as sent (the handler moves them into the batch's context).
    var states: [StateSlot]
    let invocations: [BatchInvocation]
    /// The memory the request was decoded into, where the invocations' message
    /// bytes stay: whoever runs the invocations keeps the batch alive meanwhile.
    let arena: Arena
}

extension InvocationBatch {
    /// Assembles a decoded request (a batch of no invocations is answered
    /// with no effects, as the official SDKs answer it). A state sent
    /// twice keeps its first place and its last value, as the official SDKs
    /// read the states into a dictionary.
    static func checked(
        target: Address, entry: Int?, states: [StateSlot], invocations: [BatchInvocation], arena: Arena
    ) throws -> InvocationBatch {
        var states = states
        if states.count <= 16 {  // few states are the norm: compare pairs rather than build a dictionary
            var i = 0
            while i < states.count {
                var j = i + 1
                while j < states.count {
                    if states[j].name == states[i].name {
                        states[i].value = states.remove(at: j).value
                    } else {
                        j += 1
                    }
                }
                i += 1
            }
        } else {
            var places: [String: Int] = [:]
            var unique: [StateSlot] = []
            for state in states {
                if let place = places[state.name] {
                    unique[place].value = state.value
                } else {
                    places[state.name] = unique.count
                    unique.append(state)
                }
            }
            states = unique
        }
        return InvocationBatch(target: target, entry: entry, states: states, invocations: invocations, arena: arena)
    }

    /// The target of a request, found among the handler's functions.
    static func resolveTarget(
        _ namespace: ProtobufCBinaryData?, _ type: ProtobufCBinaryData?, _ id: ProtobufCBinaryData?,
        in functions: FunctionTable
    ) throws -> (address: Address, entry: Int?) {
        guard let namespace, let type, let id else { throw MalformedRequest("the invocation batch has no target address") }
        let target = try functions.target(namespace: namespace, type: type, id: id, "the target address")
        guard target.address.functionType.hasBothParts else {
            throw MalformedRequest("the target address \(target.address) has no function type")
        }
        return target
    }

    /// The caller of an invocation: none when absent or all empty (an ingress message).
    static func caller(
        _ namespace: ProtobufCBinaryData, _ type: ProtobufCBinaryData, _ id: ProtobufCBinaryData,
        in functions: FunctionTable
    ) throws -> Address? {
        if namespace.len == 0 && type.len == 0 && id.len == 0 { return nil }
        return try functions.target(namespace: namespace, type: type, id: id, "a caller address").address
    }

    /// The fields of one decoded invocation, as both protocols carry them.
    struct InvocationFields {
        var caller: (namespace: ProtobufCBinaryData, type: ProtobufCBinaryData, id: ProtobufCBinaryData)?
        var argument: (typeName: ProtobufCBinaryData, value: ProtobufCBinaryData)?
    }

    /// The invocations of a decoded batch, with the checks both protocols share.
    /// Argument type names equal to one of `knownTypeNames` share its string.
    static func invocations<Invocation>(
        _ pointers: UnsafeMutablePointer<UnsafeMutablePointer<Invocation>?>?, count: Int, for target: Address,
        knownTypeNames: [KnownString], in functions: FunctionTable, typeNameField: String,
        _ fields: (UnsafeMutablePointer<Invocation>) -> InvocationFields
    ) throws -> [BatchInvocation] {
        var typeNames = FieldInterner(known: knownTypeNames)
        // Each invocation is made where the array keeps it (appending a value would copy it).
        return try [BatchInvocation](unsafeUninitializedCapacity: count) { buffer, made in
            for case let invocation? in UnsafeBufferPointer(start: pointers, count: count) {
                let decoded = fields(invocation)
                let sender = try decoded.caller.flatMap { try Self.caller($0.namespace, $0.type, $0.id, in: functions) }
                // An absent argument is the empty message, as protobuf reads it (the
                // function then refuses a message of no type, as the official SDKs' do).
                let argument = decoded.argument ?? (ProtobufCBinaryData(len: 0, data: nil), ProtobufCBinaryData(len: 0, data: nil))
                let element = BatchInvocation(
                    caller: sender, typeURL: try typeNames.string(argument.typeName, field: typeNameField),
                    arenaBytes: UnsafeRawBufferPointer(start: argument.value.data, count: argument.value.len))
                (buffer.baseAddress! + made).initialize(to: consume element)
                made += 1
            }
        }
    }
}

extension InvocationBatch {
    /// Decodes a request with `decode` (given the bytes and what protobuf-c
    /// must free decoding them, or `nil`: anything), exactly as protobuf reads
    /// it: the form the runtime sends as it is, any other through
    /// ``WireNormalizer``'s exact path.
    static func decoded(
        _ body: [UInt8], _ version: ProtocolVersion, functions: FunctionTable,
        _ decode: ([UInt8], Int?) throws -> InvocationBatch
    ) throws -> InvocationBatch {
        if let frees = body.withUnsafeBufferPointer({ WireNormalizer.survey($0) }) {
            do { return try decode(body, frees) } catch is IrregularRequest {}
        }
        // Off the fast path only: a request of the other protocol never takes it (its
        // values' fields have other wire types), and is told so rather than misread.
        if let hint = otherProtocolHint(body, speaking: version, functions: functions) {
            throw MalformedRequest(hint)
        }
        switch try body.withUnsafeBufferPointer({ try WireNormalizer.check($0, version) }) {
        case .exact, .undecodable: return try decode(body, nil)
        case .normalize: return try decode(body.withUnsafeBufferPointer { WireNormalizer.normalized($0, version) }, nil)
        }
    }
}

/// A request protobuf-c refused, or read with a field replaced: it takes the exact path.
struct IrregularRequest: Error {}

/// A request the SDK can never serve: it does not decode, or breaks the protocol.
struct MalformedRequest: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Decoding and encoding of the 2.x protocol through protobuf-c.
enum ProtocolV2 {
    /// Decodes a `ToFunction` body. All protobuf-c memory lives in one arena,
    /// released when this returns.
    static func decodeRequest(_ body: [UInt8], functions: FunctionTable) throws -> InvocationBatch {
        try InvocationBatch.decoded(body, .v2, functions: functions) {
            try decode($0, functions: functions, expectedFrees: $1)
        }
    }

    /// Decodes `body`, which has `expectedFrees` protobuf-c frees when it is exact
    /// (`nil`: not surveyed, or not exact: the normalizer's path).
    static func decode(_ body: [UInt8], functions: FunctionTable, expectedFrees: Int?) throws -> InvocationBatch {
        let arena = Arena(capacity: body.count * 2 + 4096)
        return try arena.withAllocator { allocator in
            let decoded = body.withUnsafeBufferPointer { buffer in
                org__apache__flink__statefun__flink__core__polyglot__to_function__unpack(
                    allocator, buffer.count, buffer.baseAddress)
            }
            guard let toFunction = decoded, expectedFrees.map({ $0 == arena.frees }) ?? true else {
                if expectedFrees != nil { throw IrregularRequest() }
                throw MalformedRequest(
                    body.withUnsafeBufferPointer {
                        malformedStateValue($0, states: 2, name: 1, value: 2, what: "the value of state")
                    } ?? "the body is not a serialized ToFunction (StateFun 2.x protocol)")
            }
            guard toFunction.pointee.request_case
                    == ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__TO_FUNCTION__REQUEST_INVOCATION,
                  let batch = toFunction.pointee.invocation
            else { throw MalformedRequest("the ToFunction carries no invocation batch") }
            let target = batch.pointee.target
            let (address, entry) = try InvocationBatch.resolveTarget(
                target?.pointee.namespace_, target?.pointee.type, target?.pointee.id, in: functions)

            var states: [StateSlot] = []
            states.reserveCapacity(batch.pointee.n_state)
            for case let state? in UnsafeBufferPointer(start: batch.pointee.state, count: batch.pointee.n_state) {
                let name = try String(utf8Field: state.pointee.state_name, "a state name")
                let value: AnyMessage?
                do {
                    value = try storedAny(state.pointee.state_value, arena, normalized: expectedFrees == nil) {
                        "the value of state '\(name)'"
                    }
                } catch where expectedFrees != nil {
                    throw IrregularRequest()  // the exact path keeps it for the function to refuse, as the SDK does
                }
                states.append(StateSlot(name: name, value: value))
            }

            let invocations = try InvocationBatch.invocations(
                batch.pointee.invocations, count: batch.pointee.n_invocations, for: address,
                knownTypeNames: entry.map { functions.entries[$0].messageTypeNames } ?? [], in: functions,
                typeNameField: "an argument's type URL", invocationFields)
            return try InvocationBatch.checked(
                target: address, entry: entry, states: states, invocations: invocations, arena: arena)
        }
    }

    /// The caller and argument fields of one decoded invocation.
    private static func invocationFields(
        _ invocation: UnsafeMutablePointer<Org__Apache__Flink__Statefun__Flink__Core__Polyglot__ToFunction__Invocation>
    ) -> InvocationBatch.InvocationFields {
        var fields = InvocationBatch.InvocationFields()
        if let caller: UnsafeMutablePointer<V2Address> = invocation.pointee.caller {
            fields.caller = (caller.pointee.namespace_, caller.pointee.type, caller.pointee.id)
        }
        if let argument = invocation.pointee.argument {
            fields.argument = (argument.pointee.type_url, argument.pointee.value)
        }
        return fields
    }

    /// Encodes the effects of a completed batch as one `FromFunction`:
    /// the changed states, then every message in emission order.
    ///
    /// - Parameter arena: where the response is built: the request's own arena
    ///   when the handler has it (one arena a request), else a new one.
    static func encodeResponse(_ context: Context, in arena: Arena? = nil) -> [UInt8] {
        let arena = arena ?? Arena(capacity: estimatedSize(context))
        let response = arena.message(V2Response.self) {
            org__apache__flink__statefun__flink__core__polyglot__from_function__invocation_response__init($0)
        }
        let mutations = context.modifiedStateCount
        response.pointee.n_state_mutations = mutations
        response.pointee.state_mutations = arena.pointers(to: V2Mutation.self, count: mutations)
        var i = 0
        // Slots are read in place, as the egresses below (a copy retains each of their strings).
        let states = context.states
        for index in states.indices where states[index].modified {
            defer { i += 1 }
            response.pointee.state_mutations[i] = arena.message(V2Mutation.self) { mutation in
                org__apache__flink__statefun__flink__core__polyglot__from_function__persisted_value_mutation__init(mutation)
                mutation.pointee.state_name = arena.string(states[index].name)
                if states[index].value != nil {
                    mutation.pointee.mutation_type =
                        ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__MODIFY
                    mutation.pointee.state_value = any(states[index].value!.typeURL, states[index].value!.value, arena)
                } else {
                    mutation.pointee.mutation_type =
                        ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__PERSISTED_VALUE_MUTATION__MUTATION_TYPE__DELETE
                }
            }
        }

        response.pointee.n_outgoing_messages = context.outgoing.count
        response.pointee.outgoing_messages = arena.pointers(to: V2Outgoing.self, count: context.outgoing.count)
        for (i, message) in context.outgoing.enumerated() {
            response.pointee.outgoing_messages[i] = arena.message(V2Outgoing.self) { outgoing in
                org__apache__flink__statefun__flink__core__polyglot__from_function__invocation__init(outgoing)
                outgoing.pointee.target = address(message.target, arena)
                outgoing.pointee.argument = any(message.message, arena)
            }
        }

        // 2.x has no cancellation (the context refuses it), so only messages are encoded.
        var delayedCount = 0
        for case .message in context.delayed { delayedCount += 1 }
        response.pointee.n_delayed_invocations = delayedCount
        response.pointee.delayed_invocations = arena.pointers(to: V2Delayed.self, count: delayedCount)
        var d = 0
        for case let .message(delay, message, _) in context.delayed {
            defer { d += 1 }
            response.pointee.delayed_invocations[d] = arena.message(V2Delayed.self) { delayed in
                org__apache__flink__statefun__flink__core__polyglot__from_function__delayed_invocation__init(delayed)
                delayed.pointee.delay_in_ms = delay
                delayed.pointee.target = address(message.target, arena)
                delayed.pointee.argument = any(message.message, arena)
            }
        }

        // Elements are read in place (not copied out, which would retain each of their strings).
        let egress = context.egress
        response.pointee.n_outgoing_egresses = egress.count
        response.pointee.outgoing_egresses = arena.pointers(to: V2Egress.self, count: egress.count)
        for i in egress.indices {
            let message = arena.message(V2Egress.self) {
                org__apache__flink__statefun__flink__core__polyglot__from_function__egress_message__init($0)
            }
            (message.pointee.egress_namespace, message.pointee.egress_type) = arena.strings(egress[i].egress)
            message.pointee.argument = any(egress[i].message.typeURL, egress[i].message.value, arena)
            response.pointee.outgoing_egresses[i] = message
        }

        var fromFunction = V2FromFunction()
        org__apache__flink__statefun__flink__core__polyglot__from_function__init(&fromFunction)
        fromFunction.response_case =
            ORG__APACHE__FLINK__STATEFUN__FLINK__CORE__POLYGLOT__FROM_FUNCTION__RESPONSE_INVOCATION_RESULT
        fromFunction.invocation_result = response
        return withUnsafePointer(to: &fromFunction) {
            $0.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { arena.pack($0) }
        }
    }

    // MARK: Pieces

    private static func estimatedSize(_ context: Context) -> Int {
        var size = 512
        for slot in context.states where slot.modified { size += slot.name.utf8.count + (slot.value?.value.count ?? 0) + 128 }
        for message in context.outgoing { size += message.message.value.count + 256 }
        for case let .message(_, message, _) in context.delayed { size += message.message.value.count + 256 }
        let egress = context.egress
        for i in egress.indices { size += egress[i].message.value.count + 256 }
        return size * 2
    }

    /// A decoded address, from the SDK's own reply (the runtime kit's side): not checked.
    static func address(_ pointer: UnsafeMutablePointer<V2Address>) -> Address {
        Address(
            FunctionType(namespace: String(repairing: pointer.pointee.namespace_), name: String(repairing: pointer.pointee.type)),
            id: String(repairing: pointer.pointee.id))
    }

    static func address(_ address: Address, _ arena: Arena) -> UnsafeMutablePointer<V2Address> {
        arena.message(V2Address.self) { pointer in
            org__apache__flink__statefun__flink__core__polyglot__address__init(pointer)
            (pointer.pointee.namespace_, pointer.pointee.type) = arena.strings(address.functionType)
            pointer.pointee.id = arena.string(address.id)
        }
    }

    static func anyMessage(_ pointer: UnsafeMutablePointer<ProtoAny>) -> AnyMessage {
        AnyMessage(typeURL: String(repairing: pointer.pointee.type_url), value: [UInt8](protobufC: pointer.pointee.value))
    }

    /// An `Any` decoded into `arena`, whose value may be the array protobuf-c wrote it into.
    static func anyMessage(
        _ pointer: UnsafeMutablePointer<ProtoAny>, in arena: Arena, _ what: @autoclosure () -> String
    ) throws -> AnyMessage {
        AnyMessage(typeURL: try String(utf8Field: pointer.pointee.type_url, what()), value: arena.bytes(pointer.pointee.value))
    }

    static func any(_ message: AnyMessage, _ arena: Arena) -> UnsafeMutablePointer<ProtoAny> {
        any(message.typeURL, message.value, arena)
    }

    static func any(_ typeURL: String, _ value: [UInt8], _ arena: Arena) -> UnsafeMutablePointer<ProtoAny> {
        let pointer = arena.message(ProtoAny.self) { google__protobuf__any__init($0) }
        pointer.pointee.type_url = arena.string(typeURL)
        pointer.pointee.value = arena.binary(value)
        return pointer
    }

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

    /// A 2.x state value: the `Any` protobuf-c decoded in place of the `bytes`
    /// that hold it (see the schema), or `nil` when those bytes are empty.
    ///
    /// The official SDK reads a state whose bytes are empty as absent, and any
    /// other as an `Any`, even one of no type and no value (its reads then
    /// fail). protobuf-c decodes both as an empty `Any`: such a value takes the
    /// exact path (`normalized`), whose bytes leave an empty value out.
    static func storedAny(
        _ pointer: UnsafeMutablePointer<ProtoAny>?, _ arena: Arena, normalized: Bool, _ what: () -> String
    ) throws -> AnyMessage? {
        guard let pointer else { return nil }
        if pointer.pointee.type_url.len == 0 && pointer.pointee.value.len == 0 {
            guard normalized else { throw IrregularRequest() }
            return AnyMessage(typeURL: "", value: [])
        }
        return try anyMessage(pointer, in: arena, what() + ": its type URL")
    }
}

extension AnyMessage: PackableMessage {
    /// An `Any` can itself be packed into an `Any`.
    public static var typeName: String { "type.googleapis.com/google.protobuf.Any" }

    /// Decodes a serialized `google.protobuf.Any`.
    public init(packedBytes: [UInt8]) throws {
        let decoded = decodeProtobufC(packedBytes, google__protobuf__any__unpack, ProtocolV2.anyMessage)
        guard let decoded else { throw StatefulFunctionsError.malformedMessage("not a serialized google.protobuf.Any") }
        self = decoded
    }

    /// Serializes this `Any` as a `google.protobuf.Any` message.
    public func packedBytes() throws -> [UInt8] {
        var any = ProtoAny()
        google__protobuf__any__init(&any)
        var typeURL = typeURL
        return typeURL.withUTF8 { typeURL in
            value.withUnsafeBufferPointer { value in
                any.type_url = ProtobufCBinaryData(len: typeURL.count, data: UnsafeMutablePointer(mutating: typeURL.baseAddress))
                any.value = ProtobufCBinaryData(len: value.count, data: UnsafeMutablePointer(mutating: value.baseAddress))
                return packProtobufC(&any)
            }
        }
    }
}
