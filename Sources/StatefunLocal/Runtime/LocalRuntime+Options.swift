extension LocalRuntime {
    /// How the run is driven.
    package struct Options: Sendable {
        /// Deliver delayed messages at once in due order (`true`), or after their real delay.
        package var virtualClock = false
        /// How long one request may take, retries included, before the job fails.
        package var callTimeout: Duration = .seconds(60)
        /// The first retry's backoff; it doubles up to one second.
        package var initialBackoff: Duration = .milliseconds(10)
        /// Waits out a retry's backoff (a test records the schedule here instead of sleeping).
        package var backoffSleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
        /// The protobuf messages egress records and undelivered messages are shown as JSON by.
        package var schema: ProtobufSchema?

        package init() {}
    }
}
