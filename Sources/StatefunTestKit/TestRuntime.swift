@_exported public import StatefulFunctions
import StatefunRuntime

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
/// targets (those to unbound function types are kept in ``undelivered``, or fail
/// as the runtime fails with ``failsOnUnboundTargets``) and recorded in
/// ``sentMessages``; delayed messages wait on a virtual clock that
/// ``advance(by:)`` moves, and can be cancelled; state expires on that clock.
/// Under 2.x, a function gets only the states declared with
/// ``declareStates(_:for:)`` (module.yaml's role); under 3.x, the ones its value
/// specs declare. Egresses declared with ``declareEgress(_:kind:)`` are checked
/// as the runtime checks them.
///
/// Where the runtime would fail the job (a second pending delayed message with a
/// cancellation token already pending, a message to an egress that is not
/// declared or of a type the egress does not take, with ``failsOnUnboundTargets``
/// a message to a function type nothing is bound to), the batch throws
/// ``TestRuntimeError/jobFailed(_:)`` and nothing of it is applied.
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
    /// Every message the functions sent, in order, to bound function types and to
    /// unbound ones, at once or delayed (Java's `TestContext` records the same).
    public private(set) var sentMessages: [SentMessage] = []
    /// Whether a message to a function type nothing is bound to fails, as in the
    /// runtime ("Cannot find a provider"): its batch (or ``send(_:to:)``) throws
    /// ``TestRuntimeError/jobFailed(_:)``. It is kept in ``undelivered`` either way.
    public var failsOnUnboundTargets = false

    private let functions: StatefulFunctions
    private var declaredStates: [FunctionType: [ValueSpec]] = [:]
    private var scheduler = BatchScheduler<Delivery>()
    private var store = StateStore()
    private var delayed = DelayedQueue()
    private var egressRecords: [FunctionType: [AnyMessage]] = [:]
    private var declaredEgresses: [FunctionType: EgressKind] = [:]

    /// What an egress declared with ``declareEgress(_:kind:)`` takes.
    public enum EgressKind: Sendable, Hashable {
        /// StateFun's Kafka egress: only Kafka producer records (3.x
        /// ``kafkaEgressMessage(typename:topic:key:value:)``, 2.x ``KafkaProducerRecord``).
        case kafka
        /// StateFun's Kinesis egress: only Kinesis egress records.
        case kinesis
        /// Any other egress: any message.
        case any
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

    /// Declares an egress, as module.yaml does. Once one is declared, a message to an
    /// egress that is not fails its batch ("Unknown egress"), and so does a message
    /// that the declared egress does not take (the Kafka egress takes only Kafka
    /// producer records, the Kinesis one only Kinesis records). With none declared,
    /// every egress takes anything.
    public func declareEgress(_ typename: String, kind: EgressKind = .any) throws {
        declaredEgresses[try FunctionType(typename)] = kind
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
        try enqueue(message: message, to: address, from: caller)
        try await run()
    }

    /// Queues a message without delivering it: messages queued for one address
    /// before ``run()`` go out as one batch, as they do while a request is in flight.
    public func enqueue(_ value: some PackableMessage, to address: Address, from caller: Address? = nil) throws {
        try enqueue(message: try AnyMessage(packing: value), to: address, from: caller)
    }

    /// Queues an already packed message without delivering it.
    ///
    /// - Throws: ``TestRuntimeError/jobFailed(_:)`` for a function type nothing is
    ///   bound to, with ``failsOnUnboundTargets``.
    public func enqueue(message: AnyMessage, to address: Address, from caller: Address? = nil) throws {
        let delivery = Delivery(target: address, caller: caller, message: message)
        do {
            try checkProvider(for: address)
        } catch {
            undelivered.append(delivery)
            throw error
        }
        route(delivery)
    }

    /// Delivers queued messages, batch by batch, until none is left. Delayed
    /// messages wait for the clock.
    ///
    /// - Throws: ``TestRuntimeError/invocationFailed(address:message:cause:)``
    ///   when a function fails; nothing of that batch is applied, and its
    ///   messages stay queued, as the runtime would retry them.
    public func run() async throws {
        while let (address, batch) = scheduler.next(maxSize: maxBatchSize) {
            do {
                try await deliver(batch, to: address)
            } catch {
                // All or nothing: the batch goes back to the head of its queue.
                scheduler.putBack(batch, to: address)
                throw error
            }
            scheduler.complete(address)
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

    /// The messages sent to the egress `typename`, unpacked as `type`. The Kafka and
    /// Kinesis records of both protocols read back as ``KafkaProducerRecord`` and
    /// ``KinesisEgressRecord``.
    public func egress<T: PackableMessage>(_ typename: String, as type: T.Type) throws -> [T] {
        try egress(typename).map { try $0.unpack(type) }
    }

    /// The delayed messages not yet due, in due order.
    public var pendingDelayedMessages: [ScheduledMessage] { delayed.pending.map(ScheduledMessage.init) }

    // MARK: Delivery

    private func checkProvider(for target: Address) throws {
        guard failsOnUnboundTargets, functions.function(for: target.functionType) == nil else { return }
        throw TestRuntimeError.jobFailed(
            "Cannot find a provider for the function type \(target.functionType) (message to \(target)):"
                + " nothing is bound to it")
    }

    /// Why the runtime would refuse `message` to its egress, if it would.
    private func egressProblem(_ message: EgressMessage) -> String? {
        guard !declaredEgresses.isEmpty else { return nil }
        guard let kind = declaredEgresses[message.egress] else {
            return "Unknown egress \(message.egress): it is not declared (declareEgress)"
        }
        let accepted: String
        switch (kind, protocolVersion) {
        case (.any, _): return nil
        case (.kafka, .v3): accepted = kafkaProducerRecordTypeName
        case (.kafka, .v2): accepted = KafkaProducerRecord.typeName
        case (.kinesis, .v3): accepted = kinesisEgressRecordTypeName
        case (.kinesis, .v2): accepted = KinesisEgressRecord.typeName
        }
        guard message.message.typeURL != accepted else { return nil }
        return "the \(kind) egress \(message.egress) takes only \(accepted), not \(message.message.typeURL)"
            + " (the runtime fails the job: IllegalStateException)"
    }

    private func route(_ delivery: Delivery) {
        guard functions.function(for: delivery.target.functionType) != nil else {
            undelivered.append(delivery)
            return
        }
        scheduler.enqueue(delivery, to: delivery.target)
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
        let effects = context.effects
        // What the runtime would fail the job on, checked before anything is applied.
        do {
            for message in effects.outgoing { try checkProvider(for: message.target) }
            for case let .message(_, message, _) in effects.delayed { try checkProvider(for: message.target) }
            try delayed.check(effects.delayed, from: address)
        } catch let error as DuplicateCancellationToken {
            throw TestRuntimeError.jobFailed(error.description)
        }
        if let problem = effects.egress.lazy.compactMap(egressProblem).first { throw TestRuntimeError.jobFailed(problem) }

        batches.append((address, batch.count))
        store.apply(effects.mutations, to: address, now: now)
        for message in effects.outgoing {
            sentMessages.append(SentMessage(
                sender: address, target: message.target, message: message.message, delay: nil, cancellationToken: nil))
            route(Delivery(target: message.target, caller: address, message: message.message))
        }
        for case let .message(delay, message, token) in effects.delayed {
            sentMessages.append(SentMessage(
                sender: address, target: message.target, message: message.message, delay: .milliseconds(delay), cancellationToken: token))
        }
        try delayed.apply(effects.delayed, from: address, now: now)
        for message in effects.egress {
            egressRecords[message.egress, default: []].append(message.message)
        }
    }
}
