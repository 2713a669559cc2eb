import CStatefunProtocol

/// Encodes the effects of a completed batch as a `FromFunction`: the changed
/// states (a MODIFY carries the declared type name under 3.x), then every
/// message in emission order. Written once, over a protocol's field mapping
/// (``WireSchema``).
enum ReplyEncoder<Schema: WireSchema> {
    /// - Parameter arena: where the reply is built: the request's own arena
    ///   when the handler has it (one arena a request), else a new one.
    static func encode(_ context: Context, in arena: Arena? = nil) -> [UInt8] {
        let arena = arena ?? Arena(capacity: estimatedSize(context))
        return Schema.packReply(build(context, in: arena), in: arena)
    }

    /// The reply's invocation result, built in `arena`.
    static func build(_ context: Context, in arena: Arena) -> UnsafeMutablePointer<Schema.Response> {
        let response = Schema.makeResponse(in: arena)

        let mutationCount = context.modifiedStateCount
        let mutations = arena.pointers(to: Schema.Mutation.self, count: mutationCount)
        var i = 0
        // States are read in place, as the egresses below (a copy retains each of their strings).
        let states = context.states
        for index in states.indices where states[index].modified {
            let name = arena.string(states[index].name)
            var value: UnsafeMutablePointer<Schema.Value>?
            if states[index].value != nil {
                value = arena.value(
                    Schema.self, states[index].typeName ?? states[index].value!.typeURL, states[index].value!.value)
            }
            mutations[i] = Schema.makeMutation(name: name, value: value, in: arena)
            i += 1
        }
        Schema.setMutations(response, mutations, count: mutationCount)

        let outgoing = arena.pointers(to: Schema.Outgoing.self, count: context.outgoing.count)
        for (i, message) in context.outgoing.enumerated() {
            outgoing[i] = Schema.makeOutgoing(
                target: arena.address(Schema.self, message.target),
                argument: arena.value(Schema.self, message.message.typeURL, message.message.value), in: arena)
        }
        Schema.setOutgoing(response, outgoing, count: context.outgoing.count)

        let delayed = arena.pointers(to: Schema.Delayed.self, count: context.delayed.count)
        var delayedCount = 0
        for effect in context.delayed {
            let message: UnsafeMutablePointer<Schema.Delayed>?
            switch effect {
            case let .message(delay, outgoing, token):
                message = Schema.makeDelayed(
                    delayInMilliseconds: delay, target: arena.address(Schema.self, outgoing.target),
                    argument: arena.value(Schema.self, outgoing.message.typeURL, outgoing.message.value),
                    cancellationToken: token.map { arena.string($0) } ?? .empty, in: arena)
            case let .cancellation(token):
                // A protocol without cancellations (2.x) leaves them out (the context refuses them there).
                message = Schema.makeCancellation(token: arena.string(token), in: arena)
            }
            guard let message else { continue }
            delayed[delayedCount] = message
            delayedCount += 1
        }
        Schema.setDelayed(response, delayed, count: delayedCount)

        // Elements are read in place (not copied out, which would retain each of their strings).
        let egress = context.egress
        let egresses = arena.pointers(to: Schema.Egress.self, count: egress.count)
        for i in egress.indices {
            let (namespace, type) = arena.strings(egress[i].egress)
            egresses[i] = Schema.makeEgress(
                namespace: namespace, type: type,
                argument: arena.value(Schema.self, egress[i].message.typeURL, egress[i].message.value), in: arena)
        }
        Schema.setEgress(response, egresses, count: egress.count)
        return response
    }

    /// Room enough for most replies in the arena's first chunk.
    private static func estimatedSize(_ context: Context) -> Int {
        var size = 512
        for slot in context.states where slot.modified { size += slot.name.utf8.count + (slot.value?.value.count ?? 0) + 128 }
        for message in context.outgoing { size += message.message.value.count + 256 }
        for case let .message(_, message, _) in context.delayed { size += message.message.value.count + 256 }
        let egress = context.egress
        for i in egress.indices { size += egress[i].message.value.count + 256 }
        return size * 2
    }
}

extension Arena {
    /// `address` as a message of `schema`, its strings copied here.
    @inline(__always)
    func address<Schema: WireSchema>(_ schema: Schema.Type, _ address: Address) -> UnsafeMutablePointer<Schema.Address> {
        let (namespace, type) = strings(address.functionType)
        return Schema.makeAddress(namespace: namespace, type: type, id: string(address.id), in: self)
    }

    /// A value of `schema` (it has its value), its type name copied here, its
    /// bytes copied or (when large) lent while the message is packed.
    @inline(__always)
    func value<Schema: WireSchema>(_ schema: Schema.Type, _ typeName: String, _ bytes: [UInt8]) -> UnsafeMutablePointer<Schema.Value> {
        if bytes.count < Arena.lentBytesThreshold {
            return Schema.makeValue(typeName: string(typeName), hasValue: true, bytes: binary(bytes), in: self)
        }
        return largeValue(Schema.self, typeName, bytes)
    }

    /// ``value(_:_:_:)`` for bytes large enough to be lent, out of the common path.
    @inline(never)
    private func largeValue<Schema: WireSchema>(
        _ schema: Schema.Type, _ typeName: String, _ bytes: [UInt8]
    ) -> UnsafeMutablePointer<Schema.Value> {
        let value = Schema.makeValue(typeName: string(typeName), hasValue: true, bytes: .empty, in: self)
        if !lend(bytes, to: { Schema.setValueBytes(value, $0) }) { Schema.setValueBytes(value, binary(bytes).data) }
        return value
    }
}
