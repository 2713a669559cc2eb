@testable import StatefulFunctions
import Testing

/// Delays and expirations go out in whole milliseconds through one conversion
/// (`wholeMilliseconds`), rounded up, and one overflow rule: a duration whose
/// milliseconds do not fit an `Int64` is refused, never wrapped or clamped.
@Suite("Whole milliseconds")
struct MillisecondsTests {
    @Test(arguments: [
        (Duration.nanoseconds(1), Int64(1)), (.microseconds(999), 1), (.milliseconds(1), 1),
        (.microseconds(1001), 2), (.seconds(3), 3000), (.milliseconds(Int64.max), Int64.max),
    ])
    func roundedUp(_ duration: Duration, _ expected: Int64) throws {
        #expect(try wholeMilliseconds(duration, "d") == expected)
    }

    @Test(arguments: [
        Duration.milliseconds(Int64.max) + .nanoseconds(1),   // rounds up past Int64.max
        .seconds(Int64.max / 1000 + 1),                       // the seconds alone overflow
        .seconds(Int64.max),
    ])
    func refusedWhenTooLong(_ duration: Duration) {
        #expect(throws: StatefulFunctionsError.invalidArgument("the delay is too long: \(duration)")) {
            try wholeMilliseconds(duration, "the delay")
        }
    }

    /// The same rule for an expiration, at bind time: it used to wrap on the wire.
    @Test func anExpirationTooLongForTheWireIsRefusedWhenBound() throws {
        let functions = StatefulFunctions()
        #expect(throws: StatefulFunctionsError.self) {
            try functions.bind("example/f", states: [ValueSpec("v", Int32.self, expiration: .afterWrite(.seconds(Int64.max)))]) { _, _ in }
        }
        try functions.bind("example/g", states: [ValueSpec("v", Int32.self, expiration: .afterWrite(.milliseconds(Int64.max)))]) { _, _ in }
    }

    /// An expiration is rounded up as a delay is (it was truncated: 1.5 ms went out as 1).
    @Test func anExpirationIsRoundedUp() {
        #expect(SchemaV3.milliseconds(.microseconds(1500)) == 2)
        #expect(SchemaV3.milliseconds(.nanoseconds(1)) == 1)
    }
}
