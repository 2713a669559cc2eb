package import StatefulFunctions

/// A delayed message waiting for its time.
package struct PendingMessage: Sendable, Hashable {
    /// When it is due, on the runtime's clock.
    package let due: Duration
    /// The function instance that sent it.
    package let sender: Address
    /// Where it goes.
    package let target: Address
    /// The message.
    package let message: AnyMessage
    /// The token that cancels it, if any.
    package let cancellationToken: String?
    /// The order it was sent in: of two messages due at once, the earlier goes first.
    package let sequence: Int
}

/// Delayed messages in due order, cancellable by their sender's token.
package struct DelayedQueue {
    private var scheduled: [PendingMessage] = []
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
                scheduled.append(PendingMessage(
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
    package mutating func popDue(atOrBefore time: Duration) -> PendingMessage? {
        guard let next = scheduled.min(by: { ($0.due, $0.sequence) < ($1.due, $1.sequence) }), next.due <= time else {
            return nil
        }
        scheduled.removeAll { $0.sequence == next.sequence }
        return next
    }

    /// The messages not yet delivered, in due order.
    package var pending: [PendingMessage] {
        scheduled.sorted { ($0.due, $0.sequence) < ($1.due, $1.sequence) }
    }
}
