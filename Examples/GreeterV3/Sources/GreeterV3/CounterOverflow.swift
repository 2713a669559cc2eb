/// A counter state at its type's maximum. Counting on would trap and take the
/// whole endpoint down; the batch fails with this error instead, a 500 that
/// names the function, the address and the state.
struct CounterOverflow: Error, CustomStringConvertible {
    let state: String
    let value: String

    var description: String { "state '\(state)' is at its maximum (\(value)) and cannot count further" }
}

extension FixedWidthInteger {
    /// One more, or ``CounterOverflow`` naming `state` when at the maximum.
    func incremented(counting state: String) throws -> Self {
        let (next, overflow) = addingReportingOverflow(1)
        if overflow { throw CounterOverflow(state: state, value: "\(self)") }
        return next
    }
}
