import Foundation
import Greeter
import StatefulFunctions
import StatefulFunctionsProtobuf
import Testing

/// State through ``TypedValueSpec``: the handle reads, writes and deletes the
/// state its spec declares, declares it to the 3.x runtime, and fails as the
/// string-keyed API does.
@Suite struct TypedStateTests {
    struct Basket: JSONMessage, Equatable {
        static let typeName = "com.example/Basket"
        var items: [String]
        var total: Double
    }

    let target = Address(namespace: "example", type: "holder", id: "h")

    /// One 3.x batch over a state holding `stored`: the first invocation reads
    /// it and stores `next`, the second reads `next` through the string-keyed
    /// API and, if `delete`, deletes it, the third reads what is left.
    func roundTrip<T: PackableMessage & Equatable & Sendable>(
        _ stored: T, _ next: T, delete: Bool
    ) async throws -> V3FromFunction.PersistedValueMutation {
        let spec = TypedValueSpec("value", T.self)
        let functions = StatefulFunctions()
        try functions.bind("example/holder", String.self, states: [spec]) { context, step in
            switch step {
            case "first":
                let read = try context.state(spec)
                #expect(context[spec] == stored)
                #expect(read == stored)
                context[spec] = next
            case "second":
                let readByName = try context.state("value", as: T.self)
                #expect(readByName == next)
                #expect(context[spec] == next)
                if delete { context[spec] = nil }
            default:
                #expect(context[spec] == (delete ? nil : next))
            }
        }
        let handler = RequestReplyHandler(functions, protocol: .v3)
        let body = try v3Request(
            target: target, states: [("value", typedValue(try any(stored)))],
            invocations: try ["first", "second", "third"].map { (nil, try any($0)) })
        let mutations = try v3Reply(await handler.handle(body)).invocationResult.stateMutations
        try #require(mutations.count == 1)
        let mutation = mutations[0]
        #expect(mutation.stateName == "value")
        return mutation
    }

    func checkRoundTrip<T: PackableMessage & Equatable & Sendable>(_ stored: T, _ next: T) async throws {
        let modified = try await roundTrip(stored, next, delete: false)
        #expect(modified.mutationType == .modify)
        #expect(modified.stateValue.typename == T.typeName)
        #expect(try T(packedBytes: [UInt8](modified.stateValue.value)) == next)

        let deleted = try await roundTrip(stored, next, delete: true)
        #expect(deleted.mutationType == .delete)
    }

    @Test func builtInTypes() async throws {
        try await checkRoundTrip(Int32(41), Int32(-7))
        try await checkRoundTrip(Int64(1) << 40, Int64(3))
        try await checkRoundTrip(false, true)
        try await checkRoundTrip(Float(1.5), Float(-2.25))
        try await checkRoundTrip(0.1, 1e300)
        try await checkRoundTrip("Zoë", "🚀 lift-off")
    }

    @Test func jsonMessages() async throws {
        try await checkRoundTrip(Basket(items: ["tea"], total: 3.5), Basket(items: ["tea", "milk"], total: 4.75))
    }

    @Test func protobufMessages() async throws {
        try await checkRoundTrip(Example_SeenCount.with { $0.seen = 2 }, Example_SeenCount.with { $0.seen = 3 })
    }

    @Test func theSpecsExpirationReachesTheWire() async throws {
        let functions = StatefulFunctions()
        let visits = TypedValueSpec("visits", Int32.self, expiration: .afterInvoke(.seconds(300)))
        let basket = TypedValueSpec("basket", Basket.self, expiration: .afterWrite(.milliseconds(1500)))
        try functions.bind("example/holder", String.self, states: [visits, ValueSpec("plain", String.self), basket]) {
            context, _ in context[visits] = 1
        }
        let handler = RequestReplyHandler(functions, protocol: .v3)
        let reply = try v3Reply(await handler.handle(try v3Request(target: target, invocations: [(nil, try any("x"))])))
        guard case .incompleteInvocationContext(let incomplete) = reply.response else {
            Issue.record("expected an incomplete invocation context, got \(reply)")
            return
        }
        let missing = incomplete.missingValues
        #expect(missing.map(\.stateName) == ["visits", "plain", "basket"])
        #expect(missing.map(\.typeTypename) == ["io.statefun.types/int", "io.statefun.types/string", "com.example/Basket"])
        #expect(missing.map(\.expirationSpec.mode) == [.afterInvoke, .none, .afterWrite])
        #expect(missing.map(\.expirationSpec.expireAfterMillis) == [300_000, 0, 1500])
    }

    @Test func aNameDeclaredTwiceAcrossTypedAndUntypedSpecsIsRefused() throws {
        let functions = StatefulFunctions()
        #expect(throws: StatefulFunctionsError.invalidArgument("the value spec 'seen' is declared twice")) {
            try functions.bind("example/holder", states: [ValueSpec("seen", Int32.self), TypedValueSpec("seen", Int32.self)]) {
                _, _ in
            }
        }
    }

    /// The 500 a function's batch gets on `protocolVersion`, for a state of the
    /// request (`states`), when the function is bound with `specs`.
    func failure(
        _ protocolVersion: ProtocolVersion, states: [(String, AnyMessage?)], specs: [any ValueSpecDeclaration] = [],
        _ body: @escaping SynchronousFunctionBody<AnyMessage>
    ) async throws -> String {
        let functions = StatefulFunctions()
        try functions.bind("example/holder", states: specs, body)
        let handler = RequestReplyHandler(functions, protocol: protocolVersion)
        let body = switch protocolVersion {
        case .v2: try toFunction(target: target, states: states, invocations: [(nil, try any("x"))])
        case .v3:
            try v3Request(
                target: target, states: states.map { ($0, typedValue($1, typeName: Int32.typeName)) },
                invocations: [(nil, try any("x"))])
        }
        let response = await handler.handle(body)
        #expect(response.status == 500)
        return response.text
    }

    @Test func readingAnotherTypeFailsAsTheStringKeyedAPIDoes() async throws {
        let count = TypedValueSpec("count", Int32.self)
        let stored: [(String, AnyMessage?)] = [("count", try any("nine"))]
        let typed = try await failure(.v2, states: stored) { context, _ in
            let typedError = #expect(throws: StatefulFunctionsError.self) { try context.state(count) }
            let stringError = #expect(throws: StatefulFunctionsError.self) { try context.state("count", as: Int32.self) }
            #expect(typedError != nil && typedError == stringError)
            _ = context[count]
        }
        let stringKeyed = try await failure(.v2, states: stored) { context, _ in
            _ = try context.state("count", as: Int32.self)
        }
        #expect(typed == stringKeyed)
        #expect(typed.contains("cannot be unpacked as 'io.statefun.types/int'"))
    }

    @Test func storingAnotherTypeThanBoundFailsAsTheStringKeyedAPIDoes() async throws {
        let states: [(String, AnyMessage?)] = [("seen", nil)]
        let specs = [ValueSpec("seen", Int32.self)]
        let seenAsText = TypedValueSpec("seen", String.self)
        let typed = try await failure(.v3, states: states, specs: specs) { context, _ in
            #expect(throws: StatefulFunctionsError.stateTypeMismatch(
                state: "seen", typeURL: String.typeName, declared: Int32.typeName)) { try context.setState(seenAsText, to: "x") }
            context[seenAsText] = "x"
        }
        let stringKeyed = try await failure(.v3, states: states, specs: specs) { context, _ in
            try context.setState("seen", to: "x")
        }
        #expect(typed == stringKeyed)
        #expect(typed.contains("cannot store a value of type 'io.statefun.types/string' in state 'seen'"))
    }

    @Test func anUndeclaredStateFailsAsTheStringKeyedAPIDoes() async throws {
        let other = TypedValueSpec("other", Int32.self)
        let typed = try await failure(.v2, states: [("count", nil)]) { context, _ in
            #expect(throws: StatefulFunctionsError.undeclaredState("other")) { try context.deleteState(other) }
            context[other] = 1
        }
        let stringKeyed = try await failure(.v2, states: [("count", nil)]) { context, _ in
            context["other"] = try any(Int32(1))
        }
        #expect(typed == stringKeyed)
        #expect(typed.contains("unknown state name 'other'"))
    }
}
