/// What a function sees while it runs: its address, the caller, its persisted
/// state, and the means to send messages.
///
/// One context serves a whole batch of invocations for one address: each
/// invocation sees the state that the one before it left. Everything sent
/// through the context is delivered only if the whole batch succeeds.
public final class Context {
    /// The address of the function instance being invoked.
    public let address: Address
    /// The address of the function that sent the current message, or `nil`
    /// when the message came from an ingress.
    public internal(set) var caller: Address?

    var states: [StateSlot]
    private var stateIndex: [String: Int]?
    var outgoing: [OutgoingMessage] = []
    var delayed: [DelayedMessage] = []
    var egress: [EgressMessage] = []
    /// The first misuse of the state subscript, which cannot throw: it fails
    /// the invocation once the function returns.
    var deferredError: StatefulFunctionsError?

    init(address: Address, states: [StateSlot]) {
        self.address = address
        self.states = states
        // Few states are the norm, where a linear scan beats hashing.
        if states.count > 8 {
            var index = [String: Int](minimumCapacity: states.count)
            for (i, slot) in states.enumerated() { index[slot.name] = i }
            stateIndex = index
        }
    }

    private func slotIndex(_ name: String) -> Int? {
        if let stateIndex { return stateIndex[name] }
        return states.firstIndex { $0.name == name }
    }

    private func checkedSlot(_ name: String) throws -> Int {
        guard let index = slotIndex(name) else { throw StatefulFunctionsError.undeclaredState(name) }
        return index
    }

    // MARK: State

    /// The state stored under `name`: an ``AnyMessage``, or `nil` when no value is set.
    /// Assigning `nil` deletes the value.
    ///
    /// The name must be one the runtime sent, that is, declared for the function
    /// in module.yaml. Using any other name fails the invocation with
    /// ``StatefulFunctionsError/undeclaredState(_:)``, which names the state.
    public subscript(name: String) -> AnyMessage? {
        get {
            guard let index = slotIndex(name) else {
                deferredError = deferredError ?? .undeclaredState(name)
                return nil
            }
            return states[index].value
        }
        set {
            guard let index = slotIndex(name) else {
                deferredError = deferredError ?? .undeclaredState(name)
                return
            }
            states[index].value = newValue
            states[index].modified = true
        }
    }

    /// The state stored under `name`, unpacked as `type`, or `nil` when no value is set.
    ///
    /// - Throws: ``StatefulFunctionsError/undeclaredState(_:)``, or
    ///   ``StatefulFunctionsError/typeMismatch(typeURL:expected:)`` when it holds another type.
    public func state<M: PackableMessage>(_ name: String, as type: M.Type = M.self) throws -> M? {
        try states[checkedSlot(name)].value?.unpack(type)
    }

    /// Packs `value` into an `Any` and stores it under `name`.
    public func setState(_ name: String, to value: some PackableMessage) throws {
        let index = try checkedSlot(name)
        states[index].value = try AnyMessage(packing: value)
        states[index].modified = true
    }

    /// Deletes the value stored under `name` (the same as assigning `nil`).
    public func deleteState(_ name: String) throws {
        let index = try checkedSlot(name)
        states[index].value = nil
        states[index].modified = true
    }

    // MARK: Messages

    /// Sends a message to the function instance `typename`/`id`.
    ///
    /// - Parameters:
    ///   - typename: the target function type, `namespace/name`.
    ///   - id: the target instance's id; must not be empty.
    ///   - message: the message; its type URL must not be empty.
    public func send(_ typename: String, id: String, message: AnyMessage) throws {
        outgoing.append(OutgoingMessage(target: try Self.target(typename, id), message: try Self.checked(message)))
    }

    /// Sends a message to an address.
    public func send(to address: Address, message: AnyMessage) throws {
        try send(address.typename, id: address.id, message: message)
    }

    /// Packs `message` into an `Any` and sends it to `typename`/`id`.
    public func packAndSend(_ typename: String, id: String, message: some PackableMessage) throws {
        try send(typename, id: id, message: AnyMessage(packing: message))
    }

    /// Sends a message to the caller of the current message.
    ///
    /// - Throws: ``StatefulFunctionsError/noCaller`` when the message came from an ingress.
    public func reply(_ message: AnyMessage) throws {
        guard let caller else { throw StatefulFunctionsError.noCaller }
        try send(to: caller, message: message)
    }

    /// Packs `message` into an `Any` and replies with it to the caller.
    public func packAndReply(_ message: some PackableMessage) throws {
        try reply(AnyMessage(packing: message))
    }

    /// Sends a message to `typename`/`id` after `delay`.
    ///
    /// The delay must be positive; it is sent in whole milliseconds, truncated
    /// as the reference SDK does.
    public func sendAfter(_ delay: Duration, _ typename: String, id: String, message: AnyMessage) throws {
        let milliseconds = try Self.milliseconds(delay)
        delayed.append(DelayedMessage(
            delayInMilliseconds: milliseconds, target: try Self.target(typename, id), message: try Self.checked(message)))
    }

    /// Packs `message` into an `Any` and sends it to `typename`/`id` after `delay`.
    public func packAndSendAfter(_ delay: Duration, _ typename: String, id: String, message: some PackableMessage) throws {
        try sendAfter(delay, typename, id: id, message: AnyMessage(packing: message))
    }

    /// Emits a message to the egress `typename` (`namespace/name`).
    public func sendEgress(_ typename: String, message: AnyMessage) throws {
        let egressType = try FunctionType(typename)
        egress.append(EgressMessage(egress: egressType, message: try Self.checked(message)))
    }

    /// Packs `message` into an `Any` and emits it to the egress `typename`.
    public func packAndSendEgress(_ typename: String, message: some PackableMessage) throws {
        try sendEgress(typename, message: AnyMessage(packing: message))
    }

    // MARK: Checks

    private static func target(_ typename: String, _ id: String) throws -> Address {
        let type = try FunctionType(typename)
        guard !id.isEmpty else { throw StatefulFunctionsError.missingArgument("id") }
        return Address(namespace: type.namespace, type: type.name, id: id)
    }

    private static func checked(_ message: AnyMessage) throws -> AnyMessage {
        guard !message.typeURL.isEmpty else { throw StatefulFunctionsError.missingArgument("message type URL") }
        return message
    }

    static func milliseconds(_ delay: Duration) throws -> Int64 {
        guard delay != .zero else { throw StatefulFunctionsError.missingArgument("delay") }
        guard delay > .zero else {
            throw StatefulFunctionsError.invalidArgument("delay must not be negative: \(delay)")
        }
        let (seconds, attoseconds) = delay.components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let total = ms &+ attoseconds / 1_000_000_000_000_000
        guard !overflow, total >= ms else { throw StatefulFunctionsError.invalidArgument("delay is too long: \(delay)") }
        return total
    }
}

/// One declared state of the batch's address.
struct StateSlot {
    let name: String
    var value: AnyMessage?
    var modified = false
}

struct OutgoingMessage: Equatable {
    let target: Address
    let message: AnyMessage
}

struct DelayedMessage: Equatable {
    let delayInMilliseconds: Int64
    let target: Address
    let message: AnyMessage
}

struct EgressMessage: Equatable {
    let egress: FunctionType
    let message: AnyMessage
}
