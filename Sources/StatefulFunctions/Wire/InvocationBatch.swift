/// One decoded `ToFunction`: the target address, its states before the batch,
/// and the invocations to run in order.
struct InvocationBatch {
    let target: Address
    /// The handler's entry for the target's function type; `nil` when none is bound.
    let entry: Int?
    /// The states as sent (the handler moves them into the batch's context).
    var states: [StateValue]
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
        target: Address, entry: Int?, states: [StateValue], invocations: [BatchInvocation], arena: Arena
    ) -> InvocationBatch {
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
            var unique: [StateValue] = []
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
}

/// A request protobuf-c refused, or read with a field replaced: it takes the exact path.
struct IrregularRequest: Error {}

/// A request the SDK can never serve: it does not decode, or breaks the protocol.
struct MalformedRequest: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
