import CStatefunProtocol

/// Decodes a request body (a `ToFunction`) through protobuf-c: the request
/// path written once, over a protocol's field mapping (``WireSchema``).
///
/// The whole request is decoded into one arena, which the decoded batch
/// keeps: its invocations' message bytes stay there.
enum RequestDecoder<Schema: WireSchema> {
    /// Decodes `body` exactly as protobuf reads it: the form the runtime sends
    /// as it is, any other through ``WireNormalizer``'s exact path.
    static func decode(_ body: [UInt8], functions: FunctionTable) throws -> InvocationBatch {
        if let frees = WireNormalizer.survey(body) {
            do { return try decode(body, functions: functions, expectedFrees: frees) } catch is IrregularRequest {}
        }
        // Off the fast path only: a request of the other protocol never takes it (its
        // values' fields have other wire types), and is told so rather than misread.
        if let hint = otherProtocolHint(body, speaking: Schema.version, functions: functions) {
            throw MalformedRequest(hint)
        }
        switch try body.withUnsafeBufferPointer({ try WireNormalizer.check($0, Schema.version) }) {
        case .exact, .undecodable:
            return try decode(body, functions: functions, expectedFrees: nil)
        case .normalize:
            return try decode(
                body.withUnsafeBufferPointer { WireNormalizer.normalized($0, Schema.version) }, functions: functions,
                expectedFrees: nil)
        }
    }

    /// Decodes `body`, which has `expectedFrees` protobuf-c frees when it is in
    /// the runtime's form (`nil`: the exact path, anything).
    ///
    /// - Throws: ``IrregularRequest`` when the fast path cannot read it as
    ///   protobuf does; ``MalformedRequest`` when it is no request.
    static func decode(_ body: [UInt8], functions: FunctionTable, expectedFrees: Int?) throws -> InvocationBatch {
        let arena = Arena(capacity: body.count * 2 + 4096)
        return try arena.withAllocator { allocator in
            let decoded = body.withUnsafeBufferPointer { Schema.unpackRequest(allocator, $0) }
            guard let request = decoded, expectedFrees.map({ $0 == arena.frees }) ?? true else {
                if expectedFrees != nil { throw IrregularRequest() }
                throw MalformedRequest(body.withUnsafeBufferPointer { Schema.undecodableRequest($0) })
            }
            guard let batch = Schema.batch(request) else {
                throw MalformedRequest("the ToFunction carries no invocation batch")
            }
            let (address, entry) = try resolveTarget(Schema.target(batch).map(Schema.address), in: functions)

            var stateTypeNames = FieldInterner(known: entry.map { functions.entries[$0].stateTypeNames } ?? [])
            let sent = Schema.states(batch)
            var states: [StateValue] = []
            states.reserveCapacity(sent.count)
            for case let state? in sent {
                let fields = Schema.state(state)
                let name = try String(utf8Field: fields.name, "a state name")
                let value = try Schema.stateValue(fields.value, typeNames: &stateTypeNames, exact: expectedFrees == nil) {
                    "the value of state '\(name)'"
                }
                states.append(StateValue(name: name, value: value))
            }

            let invocations = try invocations(
                Schema.invocations(batch), knownTypeNames: entry.map { functions.entries[$0].messageTypeNames } ?? [],
                in: functions)
            return InvocationBatch.checked(
                target: address, entry: entry, states: states, invocations: invocations, arena: arena)
        }
    }

    /// The target of a request, found among the handler's functions.
    private static func resolveTarget(
        _ target: AddressFields?, in functions: FunctionTable
    ) throws -> (address: Address, entry: Int?) {
        guard let target else { throw MalformedRequest("the invocation batch has no target address") }
        let resolved = try functions.target(
            namespace: target.namespace, type: target.type, id: target.id, "the target address")
        guard resolved.address.functionType.hasBothParts else {
            throw MalformedRequest("the target address \(resolved.address) has no function type")
        }
        return resolved
    }

    /// The invocations of a decoded batch. Argument type names equal to one
    /// of `knownTypeNames` share its string.
    private static func invocations(
        _ pointers: UnsafeBufferPointer<UnsafeMutablePointer<Schema.Invocation>?>, knownTypeNames: [KnownString],
        in functions: FunctionTable
    ) throws -> [BatchInvocation] {
        var typeNames = FieldInterner(known: knownTypeNames)
        // Each invocation is made where the array keeps it (appending a value would copy it).
        return try [BatchInvocation](unsafeUninitializedCapacity: pointers.count) { buffer, made in
            for case let invocation? in pointers {
                let fields = Schema.invocation(invocation)
                let sender = try fields.caller.flatMap { try caller(Schema.address($0), in: functions) }
                // An absent argument is the empty message, as protobuf reads it (the
                // function then refuses a message of no type, as the official SDKs' do);
                // a value without has_value is no value, as the official SDK reads it.
                let argument = fields.argument.map(Schema.value)
                let value = argument.map { $0.hasValue ? $0.bytes : ValueFields.empty } ?? ValueFields.empty
                let element = BatchInvocation(
                    caller: sender,
                    typeURL: try typeNames.string(argument?.typeName ?? ValueFields.empty, field: Schema.argumentTypeNameField),
                    arenaBytes: UnsafeRawBufferPointer(start: value.data, count: value.len))
                (buffer.baseAddress! + made).initialize(to: consume element)
                made += 1
            }
        }
    }

    /// The caller of an invocation: none when absent or all empty (an ingress message).
    private static func caller(_ address: AddressFields, in functions: FunctionTable) throws -> Address? {
        if address.namespace.len == 0 && address.type.len == 0 && address.id.len == 0 { return nil }
        return try functions.target(namespace: address.namespace, type: address.type, id: address.id, "a caller address").address
    }
}
