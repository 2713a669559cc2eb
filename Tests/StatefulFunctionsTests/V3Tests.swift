import Foundation
import GreeterV3
import StatefulFunctions
import StatefulFunctionsProtobuf
import SwiftProtobuf
import Testing
import Verification

typealias V3ToFunction = Io_Statefun_Sdk_Reqreply_ToFunction
typealias V3FromFunction = Io_Statefun_Sdk_Reqreply_FromFunction
typealias V3TypedValue = Io_Statefun_Sdk_Reqreply_TypedValue

func typedValue(_ message: AnyMessage?, typeName: String = "") -> V3TypedValue {
    V3TypedValue.with {
        $0.typename = message?.typeURL ?? typeName
        $0.hasValue_p = message != nil
        $0.value = Data(message?.value ?? [])
    }
}

/// Builds a 3.x `ToFunction` with swift-protobuf, independently of the SDK's codec.
func v3Request(
    target: Address, states: [(String, V3TypedValue)] = [], invocations: [(caller: Address?, argument: AnyMessage)]
) throws -> [UInt8] {
    var request = V3ToFunction()
    request.invocation.target = .with { $0.namespace = target.namespace; $0.type = target.type; $0.id = target.id }
    request.invocation.state = states.map { name, value in .with { $0.stateName = name; $0.stateValue = value } }
    request.invocation.invocations = invocations.map { caller, argument in
        .with { invocation in
            if let caller {
                invocation.caller = .with { $0.namespace = caller.namespace; $0.type = caller.type; $0.id = caller.id }
            }
            invocation.argument = typedValue(argument)
        }
    }
    return try request.serializedBytes()
}

func v3Reply(_ response: RequestReplyResponse) throws -> V3FromFunction {
    guard response.status == 200 else { throw TestFailure("status \(response.status): \(response.text)") }
    return try V3FromFunction(serializedBytes: response.body)
}

func any<T: PackableMessage>(_ value: T) throws -> AnyMessage { try AnyMessage(packing: value) }

@Suite struct BuiltInTypeTests {
    @Test(arguments: [Int32.min, -1, 0, 1, 1108, Int32.max])
    func intIsAnSfixed32Wrapper(_ value: Int32) throws {
        #expect(try value.packedBytes() == Io_Statefun_Sdk_Types_IntWrapper.with { $0.value = value }.serializedBytes())
        #expect(try Int32(packedBytes: value.packedBytes()) == value)
    }

    @Test(arguments: [Int64.min, -12345678901, 0, 1, Int64.max])
    func longIsAnSfixed64Wrapper(_ value: Int64) throws {
        #expect(try value.packedBytes() == Io_Statefun_Sdk_Types_LongWrapper.with { $0.value = value }.serializedBytes())
        #expect(try Int64(packedBytes: value.packedBytes()) == value)
    }

    @Test(arguments: [Float(0), 1.5, -3.25, .greatestFiniteMagnitude, .infinity])
    func floatIsAFloatWrapper(_ value: Float) throws {
        #expect(try value.packedBytes() == Io_Statefun_Sdk_Types_FloatWrapper.with { $0.value = value }.serializedBytes())
        #expect(try Float(packedBytes: value.packedBytes()) == value)
    }

    @Test(arguments: [0.0, 0.1, -1e300, .leastNonzeroMagnitude])
    func doubleIsADoubleWrapper(_ value: Double) throws {
        #expect(try value.packedBytes() == Io_Statefun_Sdk_Types_DoubleWrapper.with { $0.value = value }.serializedBytes())
        #expect(try Double(packedBytes: value.packedBytes()) == value)
    }

    @Test(arguments: [true, false])
    func boolIsABooleanWrapper(_ value: Bool) throws {
        #expect(try value.packedBytes() == Io_Statefun_Sdk_Types_BooleanWrapper.with { $0.value = value }.serializedBytes())
        #expect(try Bool(packedBytes: value.packedBytes()) == value)
    }

    @Test(arguments: ["", "hello world!", "Zoë 🚀", String(repeating: "x", count: 70_000)])
    func stringIsAStringWrapper(_ value: String) throws {
        #expect(try value.packedBytes() == Io_Statefun_Sdk_Types_StringWrapper.with { $0.value = value }.serializedBytes())
        #expect(try String(packedBytes: value.packedBytes()) == value)
    }

    @Test func typeNamesAreTheRuntimes() {
        #expect([Bool.typeName, Int32.typeName, Int64.typeName, Float.typeName, Double.typeName, String.typeName] == [
            "io.statefun.types/bool", "io.statefun.types/int", "io.statefun.types/long",
            "io.statefun.types/float", "io.statefun.types/double", "io.statefun.types/string",
        ])
    }

    @Test func malformedBytesThrow() {
        #expect(throws: StatefulFunctionsError.self) { try Int32(packedBytes: [0x0d, 0x01]) }
        #expect(throws: StatefulFunctionsError.self) { try String(packedBytes: [0x0a, 0x05, 0x61]) }
    }

    struct User: JSONMessage, Equatable {
        static let typeName = "com.example/User"
        var name: String
        var visits: Int
    }

    @Test func codableTypesTravelAsJSON() throws {
        let user = User(name: "Ann", visits: 3)
        #expect(String(decoding: try user.packedBytes(), as: UTF8.self) == #"{"name":"Ann","visits":3}"#)
        let packed = try AnyMessage(packing: user)
        #expect(packed.typeURL == "com.example/User")
        #expect(packed.as(User.self) == user)
        #expect(packed.as(String.self) == nil)
        #expect(throws: (any Error).self) { try User(packedBytes: Array("{".utf8)) }
    }
}

@Suite struct ProtocolV3Tests {
    let greeter = Address(namespace: "example", type: "greeter", id: "ann")
    let caller = Address(namespace: "example", type: "caller", id: "c")

    func handler(_ register: (StatefulFunctions) throws -> Void = GreeterV3.register(in:)) throws -> RequestReplyHandler {
        let functions = StatefulFunctions()
        try register(functions)
        return RequestReplyHandler(functions, protocol: .v3)
    }

    @Test func missingStatesAreRequestedWithTheirSpecs() async throws {
        let handler = try handler(Verification.register(in:))
        let interpreter = Address(namespace: "sdk.verification.functions", type: "command-interpreter", id: "1")
        let body = try v3Request(
            target: interpreter, states: [("state-b", typedValue(nil, typeName: Bool.typeName))],
            invocations: [(nil, try any("x"))])
        let reply = try v3Reply(await handler.handle(body))
        guard case .incompleteInvocationContext(let incomplete) = reply.response else {
            Issue.record("expected an incomplete invocation context, got \(reply)")
            return
        }
        #expect(incomplete.missingValues.map(\.stateName) == ["state-a", "state-c"])
        #expect(incomplete.missingValues.map(\.typeTypename) == ["io.statefun.types/int", "io.statefun.types/string"])
        #expect(incomplete.missingValues.map(\.expirationSpec.mode) == [.none, .afterInvoke])
        #expect(incomplete.missingValues.map(\.expirationSpec.expireAfterMillis) == [0, 300_000])
    }

    @Test func declaredStateCarriesItsTypeAndUndeclaredStateIsIgnored() async throws {
        let handler = try handler()
        let body = try v3Request(
            target: greeter,
            states: [("unrelated", typedValue(try any(Int64(5)))), ("seen", typedValue(try any(Int32(9))))],
            invocations: [(nil, try any("ann"))])
        let result = try v3Reply(await handler.handle(body)).invocationResult
        #expect(result.stateMutations.count == 1)
        let seen = (try element(result.stateMutations, 0))
        #expect(seen.stateName == "seen" && seen.mutationType == .modify)
        #expect(seen.stateValue.typename == "io.statefun.types/int" && seen.stateValue.hasValue_p)
        #expect(try Int32(packedBytes: [UInt8](seen.stateValue.value)) == 10)
        #expect(result.outgoingEgresses.map { try! String(packedBytes: [UInt8]($0.argument.value)) } == ["ann:10"])
        #expect(result.outgoingEgresses.map(\.argument.typename) == ["io.statefun.types/string"])
        #expect(result.outgoingMessages.map { "\($0.target.namespace)/\($0.target.type)/\($0.target.id)" }
            == ["example/audit/ann"])
        #expect(try String(packedBytes: [UInt8]((try element(result.outgoingMessages, 0)).argument.value)) == "ann reached 10")
    }

    @Test func aStateOfAnotherTypeThanDeclaredIs400() async throws {
        let handler = try handler()
        let body = try v3Request(
            target: greeter, states: [("seen", typedValue(try any("nine")))], invocations: [(nil, try any("ann"))])
        let response = await handler.handle(body)
        #expect(response.status == 400)
        #expect(response.text.contains("state 'seen'"))
        #expect(response.text.contains("declared as 'io.statefun.types/int'"))
    }

    @Test func storingAnotherTypeThanDeclaredFailsTheBatch() async throws {
        let handler = try handler { functions in
            try functions.bind("example/greeter", states: [ValueSpec("seen", Int32.self)]) { context, _ in
                context["seen"] = try AnyMessage(packing: "not an int")
            }
        }
        let body = try v3Request(
            target: greeter, states: [("seen", typedValue(nil, typeName: Int32.typeName))],
            invocations: [(nil, try any("ann"))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains(
            "cannot store a value of type 'io.statefun.types/string' in state 'seen', declared as 'io.statefun.types/int'"))
    }

    @Test func delayedMessagesCarryCancellationTokens() async throws {
        let handler = try handler { functions in
            try functions.bind("example/greeter") { context, _ in
                let target = Address(namespace: "example", type: "timer", id: "t")
                try context.sendAfter(.seconds(90), OutgoingMessage(to: target, value: "later"), cancellationToken: "tok-1")
                try context.sendAfter(.milliseconds(5), OutgoingMessage(to: target, value: "soon"))
                try context.cancelDelayedMessage("tok-0")
                #expect(throws: StatefulFunctionsError.missingArgument("cancellation token")) {
                    try context.cancelDelayedMessage("")
                }
            }
        }
        let body = try v3Request(target: greeter, invocations: [(nil, try any("x"))])
        let delayed = try v3Reply(await handler.handle(body)).invocationResult.delayedInvocations
        #expect(delayed.map(\.delayInMs) == [90_000, 5, 0])
        #expect(delayed.map(\.cancellationToken) == ["tok-1", "", "tok-0"])
        #expect(delayed.map(\.isCancellationRequest) == [false, false, true])
        #expect(try String(packedBytes: [UInt8](delayed[0].argument.value)) == "later")
        #expect(!delayed[2].hasArgument)
    }

    @Test func cancellationNeedsTheV3Protocol() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/greeter") { context, _ in
            try context.cancelDelayedMessage("tok")
        }
        let body = try toFunction(target: greeter, invocations: [(nil, try any("x"))])
        let response = await RequestReplyHandler(functions, protocol: .v2).handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("cancellation tokens need the StateFun 3.x protocol"))
    }

    @Test func valueSpecsAreChecked() throws {
        let functions = StatefulFunctions()
        #expect(throws: StatefulFunctionsError.missingArgument("value spec name")) {
            try functions.bind("example/a", states: [ValueSpec("", Int32.self)]) { _, _ in }
        }
        #expect(throws: StatefulFunctionsError.invalidArgument("the value spec 'x' is declared twice")) {
            try functions.bind("example/a", states: [ValueSpec("x", Int32.self), ValueSpec("x", Bool.self)]) { _, _ in }
        }
        #expect(throws: StatefulFunctionsError.self) {
            try functions.bind("example/a", states: [ValueSpec("x", Int32.self, expiration: .afterWrite(.zero))]) { _, _ in }
        }
        #expect(functions.functionTypes.isEmpty)
    }

    @Test func typesValidationAnswersEachBuiltIn() async throws {
        let handler = try handler(Verification.register(in:))
        let target = Address(namespace: "sdk.verification.functions", type: "types-validation", id: "1")
        let inputs: [AnyMessage] = [
            try any(true), try any(Int32(41)), try any(Float(1.5)), try any(Int64(-3)), try any(0.5), try any("MiXeD"),
        ]
        let body = try v3Request(target: target, invocations: inputs.map { (caller, $0) })
        let answers = try v3Reply(await handler.handle(body)).invocationResult.outgoingMessages.map {
            AnyMessage(typeURL: $0.argument.typename, value: [UInt8]($0.argument.value))
        }
        #expect(answers.count == 6)
        #expect(answers[0].as(Bool.self) == false)
        #expect(answers[1].as(Int32.self) == 42)
        #expect(answers[2].as(Float.self) == 4.5)
        #expect(answers[3].as(Int64.self) == -27)
        #expect(answers[4].as(Double.self) == 3.5)
        #expect(answers[5].as(String.self) == "mixed")
    }
}

/// A delay goes out in whole milliseconds, rounded up: a delayed message never
/// arrives before its delay, and a sub-millisecond one is not sent as 0 (at once).
@Suite struct DelayRoundingTests {
    @Test(arguments: [
        (Duration.microseconds(500), Int64(1)), (.microseconds(1500), 2), (.nanoseconds(1), 1),
        (.milliseconds(7), 7), (.seconds(2), 2000), (.milliseconds(Int64.max), Int64.max),
    ])
    func roundedUpToWholeMilliseconds(_ delay: Duration, _ expected: Int64) async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/later") { context, message in
            try context.sendAfter(delay, OutgoingMessage("example/sink", id: "s", message: message))
        }
        let body = try v3Request(
            target: Address(namespace: "example", type: "later", id: "l"), invocations: [(nil, try any("x"))])
        guard case .invocationResult(let result) = try v3Reply(await RequestReplyHandler(functions, protocol: .v3).handle(body)).response
        else { throw TestFailure("no result") }
        #expect(result.delayedInvocations.map(\.delayInMs) == [expected])
    }

    @Test func aDelayThatRoundsPastInt64MillisecondsIsRefused() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/later") { context, message in
            try context.sendAfter(.milliseconds(Int64.max) + .microseconds(1), OutgoingMessage("example/sink", id: "s", message: message))
        }
        let body = try v3Request(
            target: Address(namespace: "example", type: "later", id: "l"), invocations: [(nil, try any("x"))])
        let response = await RequestReplyHandler(functions, protocol: .v3).handle(body)
        #expect(response.status == 500 && response.text.contains("delay is too long"), "\(response.text)")
    }
}
