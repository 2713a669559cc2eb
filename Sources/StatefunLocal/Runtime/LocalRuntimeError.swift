/// What statefun-local reports when it cannot go on.
package enum LocalRuntimeError: Error, CustomStringConvertible {
    case configuration(String)
    case connection(String)
    case input(String)
    /// An endpoint failed a batch in a way the runtime does not retry, or retries ran out: the job fails.
    case jobFailed(String)

    package var description: String {
        switch self {
        case let .configuration(text): return "configuration: \(text)"
        case let .connection(text): return "connection: \(text)"
        case let .input(text): return "input: \(text)"
        case let .jobFailed(text): return "job failed: \(text)"
        }
    }
}
