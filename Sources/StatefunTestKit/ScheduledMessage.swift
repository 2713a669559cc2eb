public import StatefulFunctions
import StatefunRuntime

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

    init(_ pending: PendingMessage) {
        due = pending.due
        sender = pending.sender
        target = pending.target
        message = pending.message
        cancellationToken = pending.cancellationToken
        sequence = pending.sequence
    }
}
