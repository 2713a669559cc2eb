@_exported public import StatefulFunctions

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
    private var store = StateStore()
    private var delayed = DelayedQueue()
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
        while let next = delayed.popDue(atOrBefore: end) {
            now = max(now, next.due)
            route(Delivery(target: next.target, caller: next.sender, message: next.message))
            try await run()
        }
        now = end
    }

    // MARK: Reading

    /// The value stored in `name` for `address`, or `nil` when there is none
    /// (or it has expired by now).
    public func stateValue(of address: Address, _ name: String) -> AnyMessage? {
        let spec = specs(for: address.functionType).first { $0.name == name }
        return store.value(of: address, name, expiration: spec?.expiration ?? .none, now: now)
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
    public var pendingDelayedMessages: [ScheduledMessage] { delayed.pending }

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

    private func deliver(_ batch: [Delivery], to address: Address) async throws {
        guard let function = functions.function(for: address.functionType) else { return }
        let values = store.batchStates(
            for: address, specs: specs(for: address.functionType), now: now, typed: protocolVersion == .v3)
        let context = Context(address: address, stateValues: values, protocolVersion: protocolVersion)
        do {
            try await function.run(batch.map { BatchInvocation(caller: $0.caller, argument: $0.message) }, in: context)
        } catch {
            throw TestRuntimeError.invocationFailed(
                address: address, message: batch[error.index].message, cause: "\(error.cause)")
        }
        batches.append((address, batch.count))

        let effects = context.effects
        store.apply(effects.mutations, to: address, now: now)
        for message in effects.outgoing {
            route(Delivery(target: message.target, caller: address, message: message.message))
        }
        delayed.apply(effects.delayed, from: address, now: now)
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
