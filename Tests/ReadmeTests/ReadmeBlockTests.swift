import Foundation
import StatefunTestKit
import Testing

/// The README's examples do what the README says they do.
@Suite struct ReadmeBlockTests {
    @Test func theCartKeepsItsBasketAndVisitsThroughTypedHandles() async throws {
        let functions = StatefulFunctions()
        try Cart.bind(in: functions)
        let runtime = TestRuntime(functions, protocol: .v3)
        let ann = Address(namespace: "com.example", type: "cart", id: "ann")
        try await runtime.send("tea", to: ann)
        try await runtime.send("milk", to: ann)
        #expect(try runtime.state(of: ann, "basket", as: Basket.self)?.items == ["tea", "milk"])
        #expect(try runtime.state(of: ann, "visits", as: Int32.self) == 2)
        try await runtime.send("checkout", to: ann)
        #expect(try runtime.state(of: ann, "basket", as: Basket.self) == nil)
        #expect(try runtime.state(of: ann, "visits", as: Int32.self) == 3)
    }

    @Test func theRemindersSendCancelAndCount() async throws {
        let functions = StatefulFunctions()
        try Reminders.bind(in: functions)
        let runtime = TestRuntime(functions, protocol: .v3)
        let bob = Address(namespace: "example", type: "reminders", id: "bob")
        try await runtime.send("remind", to: bob)
        #expect(try runtime.state(of: bob, "pending", as: Int32.self) == 1)
        #expect(runtime.pendingDelayedMessages.count == 1)
        try await runtime.send("done", to: bob)
        #expect(try runtime.state(of: bob, "pending", as: Int32.self) == nil)
        try await runtime.advance(by: .seconds(7200))
        #expect(runtime.undelivered.isEmpty, "the cancelled reminder was delivered: \(runtime.undelivered)")
        #expect(try runtime.egress("example/log", as: String.self) == ["bob: remind", "bob: done"])
    }

    @Test func theStockFunctionAppliesWhatItsChildTasksBuilt() async throws {
        let functions = StatefulFunctions()
        try Stock.bind(in: functions)
        let runtime = TestRuntime(functions, protocol: .v3)
        try await runtime.send("tea", to: Address(namespace: "example", type: "stock", id: "ann"))
        let sent = runtime.undelivered.map { "\($0.target) \($0.message.as(String.self) ?? "?")" }.sorted()
        #expect(sent == ["example/warehouse/north ann: tea x3", "example/warehouse/south ann: tea x3"])
    }

    @Test func theOrdersJSONIsWhatTheREADMESays() throws {
        let placed = Date(timeIntervalSince1970: 1_700_000_000.25)
        let order = try Order(id: "o-1", placed: placed).packedBytes()
        #expect(String(decoding: order, as: UTF8.self) == #"{"id":"o-1","placed":"2023-11-14T22:13:20.250Z"}"#)
        let legacy = try LegacyOrder(placed: placed, placedBy: "ann").packedBytes()
        #expect(String(decoding: legacy, as: UTF8.self) == #"{"placed":1700000000.25,"placed_by":"ann"}"#)
        let decoded = try LegacyOrder(packedBytes: legacy)
        #expect(decoded.placedBy == "ann" && decoded.placed == placed)
    }
}
