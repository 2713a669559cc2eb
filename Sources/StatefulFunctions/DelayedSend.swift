/// A delayed message, or the cancellation of one (3.x), as a batch emitted it.
///
/// The one delayed-message type of the SDK: the ``Context`` records it, the
/// reply carries it, the runtime's side reads it back. The delay is in whole
/// milliseconds, the wire's unit (``wholeMilliseconds(_:_:)`` converts a `Duration`).
package enum DelayedSend: Equatable, Sendable {
    case message(delayInMilliseconds: Int64, OutgoingMessage, cancellationToken: String?)
    case cancellation(token: String)
}

/// `duration` in whole milliseconds, the protocol's unit for delays and
/// expirations, rounded up: a delayed message never arrives before its delay,
/// a value never expires before its time, and a sub-millisecond duration is not
/// sent as 0. For a positive duration (the callers check it first).
///
/// - Parameter what: names the duration in the error (`"delay"`).
/// - Throws: ``StatefulFunctionsError/invalidArgument(_:)`` when the
///   milliseconds do not fit an `Int64` (the one overflow rule: refused, never
///   wrapped or clamped).
func wholeMilliseconds(_ duration: Duration, _ what: @autoclosure () -> String) throws -> Int64 {
    let (seconds, attoseconds) = duration.components
    let perMillisecond: Int64 = 1_000_000_000_000_000
    let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
    let (total, carry) = whole.addingReportingOverflow((attoseconds + perMillisecond - 1) / perMillisecond)
    guard !overflow, !carry else { throw StatefulFunctionsError.invalidArgument("\(what()) is too long: \(duration)") }
    return total
}
