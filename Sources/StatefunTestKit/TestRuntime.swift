public import StatefulFunctions

/// Runs bound functions in-process with the StateFun runtime's semantics, for
/// tests: no HTTP, no Flink.
///
/// ```swift
/// let runtime = TestRuntime(functions)                 // 3.x by default
/// try await runtime.send("ann", to: Address(namespace: "example", type: "greeter", id: "ann"))
/// #expect(try runtime.state(of: ann, "seen", as: Int32.self) == 1)
/// #expect(try runtime.egress("example/out", as: String.self) == ["ann:1"])
/// ```
///
/// Semantics, as the runtime's: messages to one address are delivered in order,
/// in batches of at most `maxBatchSize`; a batch sees the state the previous one
/// left and is all or nothing; messages sent by functions are routed to their
/// targets (those to unbound function types are kept in ``undelivered``);
/// delayed messages wait on a virtual clock that ``advance(by:)`` moves, and can
/// be cancelled; state expires on that clock. Under 2.x, a function gets only
/// the states declared with ``declareStates(_:for:)`` (module.yaml's role);
/// under 3.x, the ones its value specs declare.
public final class TestRuntime {
    /// The protocol whose semantics the runtime follows.
    public let protocolVersion: ProtocolVersion
    /// The most messages one batch carries (the runtime's `maxNumBatchRequests`).
    public let maxBatchSize: Int
    /// The virtual time since the runtime was created.
    public private(set) var now: Duration = .zero
    /// Messages sent to function types nothing is bound to, in order.
    public private(set) var undelivered: [Delivery] = []
    /// Every batch delivered, in order: the address and how many messages it held.
    public private(set) var batches: [(address: Address, size: Int)] = []

    private let functions: StatefulFunctions
    private var declaredStates: [FunctionType: [ValueSpec]] = [:]
    private var queues: [Address: [Delivery]] = [:]
    /// Addresses with queued messages, in the order their first message arrived.
    private var ready: [Address] = []
    private var store: [Address: [String: StoredValue]] = [:]
    private var scheduled: [ScheduledMessage] = []
    private var sequence = 0
    private var egressRecords: [FunctionType: [AnyMessage]] = [:]

    /// A message on its way to a function instance.
    public struct Delivery: Sendable, Hashable {
        /// The address it goes to.
        public let target: Address
        /// Who sent it; `nil` for an ingress message.
        public let caller: Address?
        /// The message.
        public let message: AnyMessage
    }

    /// A delayed message waiting for its time.
    public struct ScheduledMessage: Sendable, Hashable {
        /// When it is due, on the virtual clock.
        public let due: Duration
        /// The function instance that sent it.
        public let sender: Address
        /// The message and where it goes.
        public let delivery: Delivery
        /// The token that cancels it, if any.
        public let cancellationToken: String?
        let sequence: Int
    }

    private struct StoredValue {
        var value: AnyMessage
        var lastWrite: Duration
        var lastInvoke: Duration
    }

    /// Creates a runtime over the functions bound in `functions`.
    public init(_ functions: StatefulFunctions, protocol version: ProtocolVersion = .v3, maxBatchSize: Int = 1000) {
        self.functions = functions
        protocolVersion = version
        self.maxBatchSize = max(1, maxBatchSize)
    }

    /// Declares the states of a 2.x function type, as module.yaml does.
    public func declareStates(_ specs: [ValueSpec], for typename: String) throws {
        declaredStates[try FunctionType(typename)] = specs
    }

    /// Declares the states of a 2.x function type by name, without expiration.
    public func declareStates(_ names: [String], for typename: String) throws {
        try declareStates(names.map { ValueSpec(name: $0, typeName: "") }, for: typename)
    }

    // MARK: Sending

    /// Sends `value` to `address` from an ingress, then delivers until nothing
    /// is left to deliver now.
    public func send(_ value: some PackableMessage, to address: Address) async throws {
        try await send(message: AnyMessage(packing: value), to: address)
    }

    /// Sends an already packed message from an ingress, then delivers until
    /// nothing is left to deliver now.
    public func send(message: AnyMessage, to address: Address, from caller: Address? = nil) async throws {
        enqueue(message: message, to: address, from: caller)
        try await run()
    }

    /// Queues a message without delivering it: messages queued for one address
    /// before ``run()`` go out as one batch, as they do while a request is in flight.
    public func enqueue(_ value: some PackableMessage, to address: Address, from caller: Address? = nil) throws {
        enqueue(message: try AnyMessage(packing: value), to: address, from: caller)
    }

    /// Queues an already packed message without delivering it.
    public func enqueue(message: AnyMessage, to address: Address, from caller: Address? = nil) {
        route(Delivery(target: address, caller: caller, message: message))
    }

    /// Delivers queued messages, batch by batch, until none is left. Delayed
    /// messages wait for the clock.
    ///
    /// - Throws: ``TestRuntimeError/invocationFailed(address:message:cause:)``
    ///   when a function fails; nothing of that batch is applied, and its
    ///   messages stay queued, as the runtime would retry them.
    public func run() async throws {
        while !ready.isEmpty {
            let address = ready.removeFirst()
            guard var queue = queues[address], !queue.isEmpty else { continue }
            let batch = Array(queue.prefix(maxBatchSize))
            queue.removeFirst(batch.count)
            queues[address] = queue.isEmpty ? nil : queue
            do {
                try await deliver(batch, to: address)
            } catch {
                // All or nothing: the batch goes back to the head of its queue.
                queues[address] = batch + (queues[address] ?? [])
                ready.insert(address, at: 0)
                throw error
            }
            if !queue.isEmpty { ready.append(address) }
        }
    }

    /// Moves the virtual clock forward, delivering every delayed message that
    /// falls due (in due order), and what they cause.
    public func advance(by duration: Duration) async throws {
        let end = now + duration
        while let next = scheduled.min(by: { ($0.due, $0.sequence) < ($1.due, $1.sequence) }), next.due <= end {
            scheduled.removeAll { $0.sequence == next.sequence }
            now = max(now, next.due)
            route(next.delivery)
            try await run()
        }
        now = end
    }

    // MARK: Reading

    /// The value stored in `name` for `address`, or `nil` when there is none
    /// (or it has expired by now).
    public func stateValue(of address: Address, _ name: String) -> AnyMessage? {
        guard let stored = store[address]?[name] else { return nil }
        if let spec = specs(for: address.functionType).first(where: { $0.name == name }), expired(stored, spec) {
            return nil
        }
        return stored.value
    }

    /// The value stored in `name` for `address`, unpacked as `type`.
    public func state<T: PackableMessage>(of address: Address, _ name: String, as type: T.Type = T.self) throws -> T? {
        try stateValue(of: address, name)?.unpack(type)
    }

    /// The messages sent to the egress `typename`, in order.
    public func egress(_ typename: String) throws -> [AnyMessage] {
        egressRecords[try FunctionType(typename)] ?? []
    }

    /// The messages sent to the egress `typename`, unpacked as `type`.
    public func egress<T: PackableMessage>(_ typename: String, as type: T.Type) throws -> [T] {
        try egress(typename).map { try $0.unpack(type) }
    }

    /// The delayed messages not yet due, in due order.
    public var pendingDelayedMessages: [ScheduledMessage] {
        scheduled.sorted { ($0.due, $0.sequence) < ($1.due, $1.sequence) }
    }

    // MARK: Delivery

    private func route(_ delivery: Delivery) {
        guard functions.function(for: delivery.target.functionType) != nil else {
            undelivered.append(delivery)
            return
        }
        if queues[delivery.target, default: []].isEmpty, !ready.contains(delivery.target) {
            ready.append(delivery.target)
        }
        queues[delivery.target, default: []].append(delivery)
    }

    private func specs(for type: FunctionType) -> [ValueSpec] {
        switch protocolVersion {
        case .v2: return declaredStates[type] ?? []
        case .v3: return functions.function(for: type)?.valueSpecs ?? []
        }
    }

    private func expired(_ stored: StoredValue, _ spec: ValueSpec) -> Bool {
        switch spec.expiration {
        case .none: return false
        case .afterWrite(let ttl): return stored.lastWrite + ttl <= now
        case .afterInvoke(let ttl): return stored.lastInvoke + ttl <= now
        }
    }

    private func deliver(_ batch: [Delivery], to address: Address) async throws {
        guard let function = functions.function(for: address.functionType) else { return }
        let specs = specs(for: address.functionType)
        var stored = store[address] ?? [:]
        for spec in specs {
            if let value = stored[spec.name], expired(value, spec) { stored[spec.name] = nil }
        }
        let values = specs.map { spec in
            StateValue(
                name: spec.name, value: stored[spec.name]?.value,
                typeName: protocolVersion == .v3 ? spec.typeName : nil)
        }
        let context = Context(address: address, stateValues: values, protocolVersion: protocolVersion)
        do {
            try await function.run(batch.map { ($0.caller, $0.message) }, in: context)
        } catch {
            throw TestRuntimeError.invocationFailed(
                address: address, message: batch[error.index].message, cause: "\(error.cause)")
        }
        batches.append((address, batch.count))

        let effects = context.effects
        for key in stored.keys { stored[key]?.lastInvoke = now }
        for (name, value) in effects.mutations {
            stored[name] = value.map { StoredValue(value: $0, lastWrite: now, lastInvoke: now) }
        }
        store[address] = stored.isEmpty ? nil : stored
        for message in effects.outgoing {
            route(Delivery(target: message.target, caller: address, message: message.message))
        }
        for delayed in effects.delayed {
            switch delayed {
            case let .message(delay, message, token):
                sequence += 1
                scheduled.append(ScheduledMessage(
                    due: now + delay, sender: address,
                    delivery: Delivery(target: message.target, caller: address, message: message.message),
                    cancellationToken: token, sequence: sequence))
            case let .cancellation(token):
                scheduled.removeAll { $0.sender == address && $0.cancellationToken == token }
            }
        }
        for message in effects.egress {
            egressRecords[message.egress, default: []].append(message.message)
        }
    }
}

/// What a ``TestRuntime`` reports when a batch fails.
public enum TestRuntimeError: Error, Equatable, CustomStringConvertible {
    /// A function failed on `message` at `address`; the batch was not applied.
    case invocationFailed(address: Address, message: AnyMessage, cause: String)

    public var description: String {
        switch self {
        case let .invocationFailed(address, message, cause):
            return "function at \(address) failed on a message of type '\(message.typeURL)': \(cause)"
        }
    }
}
