public import StatefulFunctions

/// The runtime's keeping of persisted values: per address, per state name,
/// with the times that expiration counts from. Shared by the in-process test
/// runtime and statefun-local, so both expire state the same way.
package struct StateStore {
    private struct Stored {
        var value: AnyMessage
        var lastWrite: Duration
        var lastInvoke: Duration
    }

    private var values: [Address: [String: Stored]] = [:]

    package init() {}

    /// The states a batch for `address` carries: one per spec, `nil` when
    /// absent or expired by `now`. Expired values are dropped.
    package mutating func batchStates(
        for address: Address, specs: [ValueSpec], now: Duration, typed: Bool
    ) -> [StateValue] {
        var stored = values[address] ?? [:]
        for spec in specs {
            if let value = stored[spec.name], Self.expired(value, spec.expiration, now) { stored[spec.name] = nil }
        }
        values[address] = stored.isEmpty ? nil : stored
        return specs.map { StateValue(name: $0.name, value: stored[$0.name]?.value, typeName: typed ? $0.typeName : nil) }
    }

    /// Applies a completed batch: every value was read (invoked) now, and the
    /// mutated ones were written now.
    package mutating func apply(_ mutations: [(name: String, value: AnyMessage?)], to address: Address, now: Duration) {
        var stored = values[address] ?? [:]
        for key in stored.keys { stored[key]?.lastInvoke = now }
        for (name, value) in mutations {
            stored[name] = value.map { Stored(value: $0, lastWrite: now, lastInvoke: now) }
        }
        values[address] = stored.isEmpty ? nil : stored
    }

    /// The value of `name` at `address` as of `now`, `nil` when absent or expired.
    package func value(of address: Address, _ name: String, expiration: ValueSpec.Expiration, now: Duration) -> AnyMessage? {
        guard let stored = values[address]?[name], !Self.expired(stored, expiration, now) else { return nil }
        return stored.value
    }

    /// Every value stored and not expired by `now` (by the expiration `expiration` gives
    /// for its address and name), by address then name.
    package func values(
        now: Duration, expiration: (Address, String) -> ValueSpec.Expiration
    ) -> [(address: Address, name: String, value: AnyMessage)] {
        values.flatMap { address, states in
            states.compactMap { name, stored in
                Self.expired(stored, expiration(address, name), now) ? nil : (address, name, stored.value)
            }
        }.sorted { ($0.address.description, $0.name) < ($1.address.description, $1.name) }
    }

    private static func expired(_ stored: Stored, _ expiration: ValueSpec.Expiration, _ now: Duration) -> Bool {
        switch expiration {
        case .none: return false
        case .afterWrite(let ttl): return stored.lastWrite + ttl <= now
        case .afterInvoke(let ttl): return stored.lastInvoke + ttl <= now
        }
    }
}

/// A delayed message waiting for its time.
public struct ScheduledMessage: Sendable, Hashable {
    /// When it is due, on the runtime's clock.
    public let due: Duration
    /// The function instance that sent it.
    public let sender: Address
    /// Where it goes.
    public let target: Address
    /// The message.
    public let message: AnyMessage
    /// The token that cancels it, if any.
    public let cancellationToken: String?
    let sequence: Int
}

/// Delayed messages in due order, cancellable by their sender's token.
package struct DelayedQueue {
    private var scheduled: [ScheduledMessage] = []
    private var sequence = 0

    package init() {}

    /// Applies a batch's delayed sends and cancellations, made by `sender` at `now`.
    ///
    /// - Throws: ``DuplicateCancellationToken``, and applies nothing, when a message
    ///   would wait with a token that a pending message of `sender` holds already
    ///   (the runtime throws `IllegalStateException` and fails the job).
    package mutating func apply(_ delayed: [DelayedSend], from sender: Address, now: Duration) throws {
        try check(delayed, from: sender)
        for send in delayed {
            switch send {
            case let .message(delay, message, token):
                sequence += 1
                scheduled.append(ScheduledMessage(
                    due: now + .milliseconds(delay), sender: sender, target: message.target, message: message.message,
                    cancellationToken: token, sequence: sequence))
            case let .cancellation(token):
                scheduled.removeAll { $0.sender == sender && $0.cancellationToken == token }
            }
        }
    }

    /// Whether ``apply(_:from:now:)`` would take `delayed`: no token of `sender` pending twice.
    package func check(_ delayed: [DelayedSend], from sender: Address) throws {
        var pending = Set(scheduled.lazy.filter { $0.sender == sender }.compactMap(\.cancellationToken))
        for send in delayed {
            switch send {
            case let .message(_, _, token?):
                guard pending.insert(token).inserted else { throw DuplicateCancellationToken(sender: sender, token: token) }
            case let .cancellation(token):
                pending.remove(token)
            case .message(_, _, nil):
                break
            }
        }
    }

    /// Removes and returns the earliest message due at or before `time`.
    package mutating func popDue(atOrBefore time: Duration) -> ScheduledMessage? {
        guard let next = scheduled.min(by: { ($0.due, $0.sequence) < ($1.due, $1.sequence) }), next.due <= time else {
            return nil
        }
        scheduled.removeAll { $0.sequence == next.sequence }
        return next
    }

    /// The messages not yet delivered, in due order.
    package var pending: [ScheduledMessage] {
        scheduled.sorted { ($0.due, $0.sequence) < ($1.due, $1.sequence) }
    }
}

/// Two delayed messages of one sender pending with the same cancellation token: the
/// runtime's delayed-message buffer refuses the second (`IllegalStateException`), which
/// fails the job.
package struct DuplicateCancellationToken: Error, CustomStringConvertible {
    package let sender: Address
    package let token: String

    package var description: String {
        "\(sender) sent a delayed message with cancellation token '\(token)' while a message with that token is"
            + " pending (the runtime fails the job: IllegalStateException, a message with the same cancellation"
            + " token exists)"
    }
}
