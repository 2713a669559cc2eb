public import StatefulFunctions

/// What a ``TestRuntime`` reports when a batch fails.
public enum TestRuntimeError: Error, Equatable, CustomStringConvertible {
    /// A function failed on `message` at `address`; the batch was not applied.
    case invocationFailed(address: Address, message: AnyMessage, cause: String)
    /// The batch asked for what the StateFun runtime refuses by failing the job; it
    /// was not applied. The text says what, in the runtime's words where it has them.
    case jobFailed(String)

    public var description: String {
        switch self {
        case let .invocationFailed(address, message, cause):
            return "function at \(address) failed on a message of type '\(message.typeURL)': \(cause)"
        case let .jobFailed(reason):
            return "the runtime would fail the job: \(reason)"
        }
    }
}
