/// What a function sees while it runs: its address, the caller, its persisted
/// state, and the means to send messages.
///
/// One context serves a whole batch of invocations for one address: each
/// invocation sees the state that the one before it left. Everything sent
/// through the context is delivered only if the whole batch succeeds.
public final class Context {
    // `@exclusivity(unchecked)`, here and on `TypedState`'s two properties: every
    // invocation reads or writes them (the caller, the states, what it sends, a
    // state's decoded value), and a context serves one batch on one task at a
    // time (it is not Sendable). The dynamic exclusivity checks of those
    // accesses would cost more than the accesses: measured group by group, 0.5
    // to 3.9% of a request each (Benchmarks/README.md).

    /// The address of the function instance being invoked.
    public let address: Address
    /// The address of the function that sent the current message, or `nil`
    /// when the message came from an ingress.
    @exclusivity(unchecked) public internal(set) var caller: Address?

    @exclusivity(unchecked) var states: [StateValue]
    private let stateIndex: [String: Int]?
    /// The protocol of the request: cancellation tokens need 3.x.
    let protocolVersion: ProtocolVersion
    @exclusivity(unchecked) var outgoing: [OutgoingMessage] = []
    @exclusivity(unchecked) var delayed: [DelayedSend] = []
    @exclusivity(unchecked) var egress: [EgressMessage] = []
    /// The first misuse of the state subscript, which cannot throw: it fails
    /// the invocation once the function returns.
    @exclusivity(unchecked) var deferredError: StatefulFunctionsError?

    init(address: Address, states: [StateValue], protocolVersion: ProtocolVersion = .v2) {
        self.address = address
        self.states = states
        self.protocolVersion = protocolVersion
        // Few states are the norm, where a linear scan beats hashing.
        if states.count > 8 {
            var index = [String: Int](minimumCapacity: states.count)
            for (i, slot) in states.enumerated() { index[slot.name] = i }
            stateIndex = index
        } else {
            stateIndex = nil
        }
    }

    private func slotIndex(_ name: String) -> Int? {
        if let stateIndex { return stateIndex[name] }
        return scannedSlotIndex(name)
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
            do {
                try encodePending(index)
            } catch {
                deferredError = deferredError ?? .invalidArgument("state '\(name)' cannot be encoded: \(error)")
                return nil
            }
            return states[index].value
        }
        set {
            guard let index = slotIndex(name) else {
                deferredError = deferredError ?? .undeclaredState(name)
                return
            }
            do {
                try store(newValue, at: index)
            } catch {
                deferredError = deferredError ?? error
            }
        }
    }

    private func store(_ value: AnyMessage?, at index: Int) throws(StatefulFunctionsError) {
        if let value, let declared = states[index].typeName, value.typeURL != declared {
            throw .stateTypeMismatch(state: states[index].name, typeURL: value.typeURL, declared: declared)
        }
        states[index].value = value
        states[index].typed = nil
        states[index].encodePending = false
        states[index].modified = true
    }

    /// The state stored under `name`, unpacked as `type`, or `nil` when no value is set.
    ///
    /// Within a batch, the value is decoded once: later reads get the decoded
    /// value, or the one the last `setState(_:to:)` stored.
    ///
    /// - Throws: ``StatefulFunctionsError/undeclaredState(_:)``, or
    ///   ``StatefulFunctionsError/typeMismatch(typeURL:expected:)`` when it holds another type.
    @inlinable
    public func state<M: PackableMessage>(_ name: String, as type: M.Type = M.self) throws -> M? {
        // Inlined so that `M` is concrete here: generic code would look up runtime
        // metadata (for `M?`, for the box) on every read.
        let index = try stateIndex(name)
        if let value = withTypedState(at: index, as: M.self, { $0.value }) { return value }
        guard let stored = try storedState(at: index) else { return nil }
        let value = try stored.unpack(M.self)
        setTypedState(TypedState(value, typeChecked: false), at: index, pending: false)
        return value
    }

    /// Stores `value` under `name`. It is packed into an `Any` once, when the
    /// batch completes (or when the state is read as an ``AnyMessage``), however
    /// often the batch stores it.
    @inlinable
    public func setState<M: PackableMessage>(_ name: String, to value: M) throws {
        let index = try stateIndex(name)
        let updated: Void? = try withTypedState(at: index, as: M.self) { box in
            // Checked once per box: a box a read made has not been checked yet.
            if !box.typeChecked {
                try checkDeclaredType(M.typeName, at: index)
                box.typeChecked = true
            }
            box.value = value
        }
        if updated != nil {
            markPending(at: index)
        } else {
            try checkDeclaredType(M.typeName, at: index)
            setTypedState(TypedState(value, typeChecked: true), at: index, pending: true)
        }
    }

    @usableFromInline
    func stateIndex(_ name: String) throws -> Int {
        try checkedSlot(name)
    }

    /// The stored value, with any pending typed value packed first.
    @usableFromInline
    func storedState(at index: Int) throws -> AnyMessage? {
        try encodePending(index)
        return states[index].value
    }

    @usableFromInline
    func setTypedState(_ box: TypedStateBox, at index: Int, pending: Bool) {
        states[index].typed = box
        if pending { markPending(at: index) }
    }

    @usableFromInline
    func markPending(at index: Int) {
        states[index].encodePending = true
        states[index].modified = true
    }

    /// Refuses a value whose type is not the state's declared type (3.x value specs).
    @usableFromInline
    func checkDeclaredType(_ typeName: @autoclosure () -> String, at index: Int) throws {
        if let declared = states[index].typeName, case let typeName = typeName(), typeName != declared {
            throw StatefulFunctionsError.stateTypeMismatch(
                state: states[index].name, typeURL: typeName, declared: declared)
        }
    }

    /// Packs the value ``setState(_:to:)`` stored at `index`, if not done yet.
    private func encodePending(_ index: Int) throws {
        guard states[index].encodePending, let typed = states[index].typed else { return }
        states[index].value = try typed.packed()
        states[index].encodePending = false
    }

    /// Packs every value stored with ``setState(_:to:)``: the batch's state
    /// changes as the runtime receives them. Run once the batch's invocations are done.
    func encodeStates() throws {
        for index in states.indices where states[index].encodePending {
            do {
                try encodePending(index)
            } catch {
                throw StatefulFunctionsError.invalidArgument("state '\(states[index].name)' cannot be encoded: \(error)")
            }
        }
    }

    /// Deletes the value stored under `name` (the same as assigning `nil`).
    public func deleteState(_ name: String) throws {
        try store(nil, at: try checkedSlot(name))
    }

    // MARK: Messages

    /// Sends a message to the function instance `typename`/`id`.
    ///
    /// - Parameters:
    ///   - typename: the target function type, `namespace/name`.
    ///   - id: the target instance's id; must not be empty.
    ///   - message: the message; its type URL must not be empty.
    public func send(_ typename: String, id: String, message: AnyMessage) throws {
        outgoing.append(try OutgoingMessage(to: Address(FunctionType(typename), id: id), message: message))
    }

    /// Sends a message built with ``OutgoingMessage``.
    public func send(_ message: OutgoingMessage) {
        outgoing.append(message)
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
    /// The delay must be positive; it is sent in whole milliseconds, rounded up.
    public func sendAfter(_ delay: Duration, _ typename: String, id: String, message: AnyMessage) throws {
        try sendAfter(delay, OutgoingMessage(typename, id: id, message: message))
    }

    /// Sends a message after `delay`; with a cancellation token (3.x), it can
    /// be cancelled with ``cancelDelayedMessage(_:)`` until it is delivered.
    public func sendAfter(_ delay: Duration, _ message: OutgoingMessage, cancellationToken: String? = nil) throws {
        let milliseconds = try Self.milliseconds(delay)
        if let cancellationToken { try checkCancellationToken(cancellationToken) }
        delayed.append(.message(delayInMilliseconds: milliseconds, message, cancellationToken: cancellationToken))
    }

    /// Cancels the delayed message sent with `cancellationToken` (3.x). Best
    /// effort: a message already delivered is not affected.
    public func cancelDelayedMessage(_ cancellationToken: String) throws {
        try checkCancellationToken(cancellationToken)
        delayed.append(.cancellation(token: cancellationToken))
    }

    func checkCancellationToken(_ token: String) throws {
        guard protocolVersion == .v3 else {
            throw StatefulFunctionsError.invalidArgument("cancellation tokens need the StateFun 3.x protocol")
        }
        guard !token.isEmpty else { throw StatefulFunctionsError.missingArgument("cancellation token") }
    }

    /// Packs `message` into an `Any` and sends it to `typename`/`id` after `delay`.
    public func packAndSendAfter(_ delay: Duration, _ typename: String, id: String, message: some PackableMessage) throws {
        try sendAfter(delay, typename, id: id, message: AnyMessage(packing: message))
    }

    /// Emits a message to the egress `typename` (`namespace/name`).
    public func sendEgress(_ typename: String, message: AnyMessage) throws {
        egress.append(try EgressMessage(egress: FunctionType(typename), message: message))
    }

    /// Emits a message built with ``EgressMessage`` or an egress helper.
    public func sendEgress(_ message: EgressMessage) {
        egress.append(message)
    }

    /// Packs `message` into an `Any` and emits it to the egress `typename`.
    public func packAndSendEgress(_ typename: String, message: some PackableMessage) throws {
        try sendEgress(typename, message: AnyMessage(packing: message))
    }

    // MARK: Checks

    static func milliseconds(_ delay: Duration) throws -> Int64 {
        guard delay != .zero else { throw StatefulFunctionsError.missingArgument("delay") }
        guard delay > .zero else {
            throw StatefulFunctionsError.invalidArgument("delay must not be negative: \(delay)")
        }
        return try wholeMilliseconds(delay, "delay")
    }
}

/// A state's decoded value, kept for the batch (see `StateValue.typed`). A class,
/// so that a batch that stores the state on every invocation updates one box
/// instead of boxing each value anew.
@usableFromInline
class TypedStateBox {
    @usableFromInline
    init() {}

    /// The value packed into an `Any`.
    func packed() throws -> AnyMessage { fatalError("TypedStateBox is abstract") }
}

@usableFromInline
final class TypedState<M: PackableMessage>: TypedStateBox {
    @usableFromInline
    @exclusivity(unchecked) var value: M
    /// Whether `M` was checked against the state's declared type (a store
    /// checks it; a read does not, as reading under a matching name is allowed).
    @usableFromInline
    @exclusivity(unchecked) var typeChecked: Bool

    @usableFromInline
    init(_ value: M, typeChecked: Bool) {
        self.value = value
        self.typeChecked = typeChecked
    }

    override func packed() throws -> AnyMessage { try AnyMessage(packing: value) }
}
