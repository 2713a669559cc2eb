import StatefulFunctions
import StatefunRuntime
import Testing

@Suite struct DelayedQueueTests {
    let ann = Address(namespace: "example", type: "greeter", id: "ann")
    let bob = Address(namespace: "example", type: "greeter", id: "bob")

    func send(_ text: String, after milliseconds: Int64, token: String? = nil) throws -> DelayedSend {
        .message(delayInMilliseconds: milliseconds, try OutgoingMessage(to: bob, value: text), cancellationToken: token)
    }

    @Test func messagesFallDueInDueOrderThenSendingOrder() throws {
        var queue = DelayedQueue()
        try queue.apply([try send("late", after: 2000), try send("early", after: 1000)], from: ann, now: .zero)
        try queue.apply([try send("early too", after: 500)], from: ann, now: .milliseconds(500))
        #expect(queue.pending.map(\.due) == [.seconds(1), .seconds(1), .seconds(2)])
        #expect(queue.popDue(atOrBefore: .milliseconds(999)) == nil)
        var texts: [String] = []
        while let next = queue.popDue(atOrBefore: .seconds(2)) { texts.append(try next.message.unpack(String.self)) }
        #expect(texts == ["early", "early too", "late"])
        #expect(queue.pending.isEmpty)
    }

    @Test func aCancellationRemovesOnlyItsSendersMessage() throws {
        var queue = DelayedQueue()
        try queue.apply([try send("ann's", after: 1000, token: "t")], from: ann, now: .zero)
        try queue.apply([try send("bob's", after: 1000, token: "t")], from: bob, now: .zero)
        try queue.apply([.cancellation(token: "t")], from: ann, now: .zero)
        #expect(queue.pending.map(\.sender) == [bob])
    }

    @Test func aTokenPendingTwiceIsRefusedAndNothingApplied() throws {
        var queue = DelayedQueue()
        try queue.apply([try send("first", after: 1000, token: "t")], from: ann, now: .zero)
        #expect(throws: DuplicateCancellationToken.self) {
            try queue.apply([try send("other", after: 10), try send("second", after: 1000, token: "t")], from: ann, now: .zero)
        }
        #expect(queue.pending.count == 1)
        // Cancelled first in the same batch, the token is free again.
        try queue.apply([.cancellation(token: "t"), try send("second", after: 1000, token: "t")], from: ann, now: .zero)
        #expect(try queue.pending.map { try $0.message.unpack(String.self) } == ["second"])
    }
}
