public import StatefulFunctions

extension TestRuntime {
    /// A message a function sent to a function instance.
    public struct SentMessage: Sendable, Hashable {
        /// The function instance that sent it.
        public let sender: Address
        /// Where it goes.
        public let target: Address
        /// The message.
        public let message: AnyMessage
        /// Its delay; `nil` for a message sent at once.
        public let delay: Duration?
        /// The token that cancels it (delayed messages, 3.x).
        public let cancellationToken: String?

        /// A record to compare ``sentMessages`` with.
        public init(sender: Address, target: Address, message: AnyMessage, delay: Duration?, cancellationToken: String?) {
            self.sender = sender
            self.target = target
            self.message = message
            self.delay = delay
            self.cancellationToken = cancellationToken
        }
    }

    /// A message on its way to a function instance.
    public struct Delivery: Sendable, Hashable {
        /// The address it goes to.
        public let target: Address
        /// Who sent it; `nil` for an ingress message.
        public let caller: Address?
        /// The message.
        public let message: AnyMessage
    }
}
