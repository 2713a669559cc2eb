import StatefulFunctions
import Synchronization
import Testing

/// A counter state that counts how often it is decoded and encoded.
struct CountingCounter: PackableMessage, Equatable {
    static let decodes = Atomic<Int>(0)
    static let encodes = Atomic<Int>(0)
    static var typeName: String { "example.test/counting-counter" }

    var value: Int32

    init(value: Int32) { self.value = value }

    init(packedBytes: [UInt8]) throws {
        Self.decodes.add(1, ordering: .relaxed)
        value = try Int32(packedBytes: packedBytes)
    }

    func packedBytes() throws -> [UInt8] {
        Self.encodes.add(1, ordering: .relaxed)
        return try value.packedBytes()
    }
}

/// A state value that cannot be encoded.
struct Unencodable: PackableMessage {
    static var typeName: String { "example.test/unencodable" }
    init() {}
    init(packedBytes: [UInt8]) throws {}
    func packedBytes() throws -> [UInt8] { throw TestFailure("this value never encodes") }
}

@Suite("State within a batch: decoded once, encoded once", .serialized)
struct StateCacheTests {
    let address = Address(namespace: "example", type: "counter", id: "c")

    func handler(_ body: @escaping @Sendable (Context, AnyMessage) throws -> Void) throws -> RequestReplyHandler {
        let functions = StatefulFunctions()
        try functions.bind("example/counter") { context, message in try body(context, message) }
        return RequestReplyHandler(functions, protocol: .v2)
    }

    @Test("a batch of 50 increments decodes the stored counter once and encodes the result once")
    func decodeOnceEncodeOnce() async throws {
        let handler = try handler { context, _ in
            let counter = try context.state("count", as: CountingCounter.self) ?? CountingCounter(value: 0)
            try context.setState("count", to: CountingCounter(value: counter.value + 1))
        }
        let stored = try AnyMessage(typeURL: CountingCounter.typeName, value: Int32(7).packedBytes())
        let body = try toFunction(
            target: address, states: [("count", stored)],
            invocations: Array(repeating: (caller: nil, argument: try AnyMessage(packing: "tick")), count: 50))
        let decodes = CountingCounter.decodes.load(ordering: .relaxed)
        let encodes = CountingCounter.encodes.load(ordering: .relaxed)
        let result = try invocationResult(await handler.handle(body))
        #expect(CountingCounter.decodes.load(ordering: .relaxed) - decodes == 1)
        #expect(CountingCounter.encodes.load(ordering: .relaxed) - encodes == 1)
        let written = try stateAny(try #require(result.stateMutations.first))
        #expect(written.typeURL == CountingCounter.typeName)
        #expect(try Int32(packedBytes: written.value) == 57)
    }

    @Test("the subscript sees what setState stored; deleting after setState deletes")
    func subscriptAfterSetState() async throws {
        let handler = try handler { context, _ in
            try context.setState("a", to: Int32(5))
            let packed = try #require(context["a"])
            try context.setState("b", to: try Int32(packedBytes: packed.value) + 1)
            try context.setState("c", to: "gone soon")
            context["c"] = nil
            // Read back as another type than stored: the type check still applies.
            #expect(throws: StatefulFunctionsError.self) { try context.state("b", as: String.self) }
        }
        let body = try toFunction(
            target: address, states: [("a", nil), ("b", nil), ("c", nil)],
            invocations: [(caller: nil, argument: try AnyMessage(packing: "go"))])
        let result = try invocationResult(await handler.handle(body))
        let mutations = Dictionary(uniqueKeysWithValues: result.stateMutations.map { ($0.stateName, $0) })
        #expect(try Int32(packedBytes: stateAny(try #require(mutations["a"])).value) == 5)
        #expect(try Int32(packedBytes: stateAny(try #require(mutations["b"])).value) == 6)
        #expect(mutations["c"]?.mutationType == .delete)
    }

    @Test("a state stored as one type, then another, then read back: each read sees the last value, the reply carries the last type")
    func typeChangesWithinABatch() async throws {
        let handler = try handler { context, _ in
            let counter = try context.state("v", as: CountingCounter.self)
            #expect(counter == CountingCounter(value: 3))
            try context.setState("v", to: CountingCounter(value: 4))
            #expect(try context.state("v", as: CountingCounter.self) == CountingCounter(value: 4))
            try context.setState("v", to: "now a string")
            #expect(throws: StatefulFunctionsError.self) { try context.state("v", as: CountingCounter.self) }
            #expect(try context.state("v", as: String.self) == "now a string")
            try context.setState("v", to: "the last string")
        }
        let stored = try AnyMessage(typeURL: CountingCounter.typeName, value: Int32(3).packedBytes())
        let body = try toFunction(
            target: address, states: [("v", stored)], invocations: [(caller: nil, argument: try AnyMessage(packing: "go"))])
        let result = try invocationResult(await handler.handle(body))
        let written = try stateAny(try #require(result.stateMutations.first))
        #expect(written.typeURL == String.typeName)
        #expect(try String(packedBytes: written.value) == "the last string")
    }

    @Test("a stored value that cannot be encoded fails the batch with a 500 naming the state")
    func encodingFailure() async throws {
        let handler = try handler { context, _ in
            try context.setState("bad", to: Unencodable())
        }
        let body = try toFunction(
            target: address, states: [("bad", nil)], invocations: [(caller: nil, argument: try AnyMessage(packing: "go"))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("state 'bad' cannot be encoded"), "\(response.text)")
    }
}
