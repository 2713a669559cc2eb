/// Messages to send, built where the ``Context`` cannot go: in child tasks.
///
/// A context belongs to one invocation's task and is not `Sendable`, so a
/// child task (`async let`, a `TaskGroup`) cannot use it. Read what the work
/// needs from the context first (its address, caller, state: all values),
/// let each child task compute and return its results, or an effects value
/// of its own, and apply them to the context once they are back (Go's
/// `DeriveContext` and Java's `ConcurrentContext` serve the same need):
///
/// ```swift
/// try functions.bind("example/fan-out", String.self) { context, order in
///     let user = context.address.id
///     let effects = try await withThrowingTaskGroup(of: ContextEffects.self) { group in
///         for warehouse in ["north", "south"] {
///             group.addTask {
///                 var effects = ContextEffects()
///                 let stock = try await checkStock(order, in: warehouse)   // concurrent work
///                 effects.send(try OutgoingMessage("example/warehouse", id: warehouse, value: "\(user):\(stock)"))
///                 return effects
///             }
///         }
///         return try await group.reduce(into: ContextEffects()) { $0.append($1) }
///     }
///     try context.apply(effects)
/// }
/// ```
///
/// Effects are applied in the order they were added; a batch delivers them
/// only if it completes, as any other message the function sends.
public struct ContextEffects: Sendable, Equatable {
    var outgoing: [OutgoingMessage] = []
    var delayed: [DelayedSend] = []
    var egress: [EgressMessage] = []

    /// No effects yet.
    public init() {}

    /// Whether nothing was added.
    public var isEmpty: Bool { outgoing.isEmpty && delayed.isEmpty && egress.isEmpty }

    /// Sends `message` when applied (``Context/send(_:)``).
    public mutating func send(_ message: OutgoingMessage) {
        outgoing.append(message)
    }

    /// Sends `message` after `delay` when applied (``Context/sendAfter(_:_:cancellationToken:)``).
    ///
    /// - Throws: for a delay that is not positive; a cancellation token is
    ///   checked when the effects are applied (it needs the 3.x protocol).
    public mutating func sendAfter(_ delay: Duration, _ message: OutgoingMessage, cancellationToken: String? = nil) throws {
        delayed.append(.message(delayInMilliseconds: try Context.milliseconds(delay), message, cancellationToken: cancellationToken))
    }

    /// Cancels the delayed message sent with `cancellationToken` when applied (3.x).
    public mutating func cancelDelayedMessage(_ cancellationToken: String) {
        delayed.append(.cancellation(token: cancellationToken))
    }

    /// Emits `message` to its egress when applied (``Context/sendEgress(_:)``).
    public mutating func sendEgress(_ message: EgressMessage) {
        egress.append(message)
    }

    /// Adds `other`'s effects after these.
    public mutating func append(_ other: ContextEffects) {
        outgoing += other.outgoing
        delayed += other.delayed
        egress += other.egress
    }
}

extension Context {
    /// Sends what `effects` holds, in the order it was added.
    ///
    /// - Throws: ``StatefulFunctionsError`` for a cancellation token that is
    ///   empty or used under 2.x; nothing of `effects` is applied then.
    public func apply(_ effects: ContextEffects) throws {
        for case .message(_, _, let token?) in effects.delayed { try checkCancellationToken(token) }
        for case .cancellation(let token) in effects.delayed { try checkCancellationToken(token) }
        outgoing += effects.outgoing
        delayed += effects.delayed
        egress += effects.egress
    }
}
