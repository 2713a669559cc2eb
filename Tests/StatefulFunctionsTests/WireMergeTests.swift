import Foundation
import Greeter
import GreeterV3
import StatefulFunctions
import SwiftProtobuf
import Testing

/// Requests in forms protobuf allows but the runtime does not send: each is
/// read as protobuf (and so the official SDKs) reads it, never as protobuf-c alone would.
@Suite("Protobuf's parsing rules on every request: merged fields, unknown wire types, repeated states")
struct WireMergeTests {
    let target = Address(namespace: "example", type: "echo", id: "e")
    let caller = Address(namespace: "example", type: "caller", id: "c")

    /// Replies to each invocation with its argument.
    func echo(_ version: ProtocolVersion) throws -> RequestReplyHandler {
        let functions = StatefulFunctions()
        try functions.bind("example/echo") { context, message in
            if context.caller != nil { try context.reply(message) }
        }
        return RequestReplyHandler(functions, protocol: version)
    }

    func request(_ version: ProtocolVersion, _ arguments: [String], states: [(String, Int32?)] = []) throws -> [UInt8] {
        let invocations = try arguments.map { (caller: Optional(caller), argument: try AnyMessage(packing: $0)) }
        switch version {
        case .v2:
            return try toFunction(target: target, states: try states.map { ($0.0, try $0.1.map { try AnyMessage(packing: $0) }) },
                                  invocations: invocations)
        case .v3:
            return try v3Request(
                target: target, states: try states.map { ($0.0, typedValue(try $0.1.map { try AnyMessage(packing: $0) }, typeName: Int32.typeName)) },
                invocations: invocations)
        }
    }

    /// The texts the batch replied with, in order.
    func replies(_ response: RequestReplyResponse, _ version: ProtocolVersion) throws -> [String] {
        switch version {
        case .v2:
            return try invocationResult(response).outgoingMessages.map { try AnyMessage($0.argument).unpack(String.self) }
        case .v3:
            guard case .invocationResult(let result) = try v3Reply(response).response else { throw TestFailure("no result") }
            return try result.outgoingMessages.map { try String(packedBytes: [UInt8]($0.argument.value)) }
        }
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func aRequestConcatenatedWithItselfRunsEveryInvocation(_ version: ProtocolVersion) async throws {
        let body = try request(version, ["a", "b"])
        let response = try await echo(version).handle(body + body)
        #expect(try replies(response, version) == ["a", "b", "a", "b"])
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func aBatchSplitOverTwoOccurrencesOfItsFieldIsOneBatch(_ version: ProtocolVersion) async throws {
        // Field 100 twice: the target in the first, the invocations in the second.
        let whole = try request(version, ["x", "y"])
        let batch = try #require(Self.fields(Array(whole.dropFirst(2 + Self.varintLength(whole, at: 2)))))
        let target = batch.filter { $0.number == 1 }.flatMap(\.bytes)
        let rest = batch.filter { $0.number != 1 }.flatMap(\.bytes)
        let split = Self.field(100, target) + Self.field(100, rest)
        #expect(try await replies(echo(version).handle(split), version) == ["x", "y"])
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func anAddressSentTwiceIsMergedAndAnExplicitEmptyFieldClearsTheEarlierOne(_ version: ProtocolVersion) async throws {
        // The caller sent as two Address messages: namespace+type+id, then an explicitly empty id.
        let body = try request(version, ["m"])
        let batch = try #require(Self.fields(Array(body.dropFirst(2 + Self.varintLength(body, at: 2)))))
        let invocation = try #require(batch.first { $0.number == 3 })
        var fields = try #require(Self.fields(invocation.payload))
        fields.append((1, Self.field(1, Self.field(3, [])), Self.field(3, [])))  // caller { id: "" }
        let rebuilt = batch.filter { $0.number != 3 }.flatMap(\.bytes) + Self.field(3, fields.flatMap(\.bytes))
        // The function sees the caller example/caller with an empty id, as protobuf merges it.
        let functions = StatefulFunctions()
        try functions.bind("example/echo") { context, _ in
            try context.send(to: Address(namespace: "example", type: "sink", id: "s"),
                             message: try AnyMessage(packing: "\(context.caller.map { "\($0.typename)|\($0.id)" } ?? "none")"))
        }
        let response = await RequestReplyHandler(functions, protocol: version).handle(Self.field(100, rebuilt))
        #expect(try replies(response, version) == ["example/caller|"])
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func aKnownFieldWithAnotherWireTypeIsAnUnknownField(_ version: ProtocolVersion) async throws {
        // The target's id also sent as a varint (field 3, wire type 0), then a group: both ignored.
        let body = try request(version, ["w"])
        let batch = try #require(Self.fields(Array(body.dropFirst(2 + Self.varintLength(body, at: 2)))))
        let target = try #require(batch.first { $0.number == 1 })
        let odd = target.payload + [0x18, 0x05] + [0x23, 0x08, 0x01, 0x24]  // id as varint; group 4 { 1: 1 }
        let rebuilt = Self.field(1, odd) + batch.filter { $0.number != 1 }.flatMap(\.bytes)
        #expect(try replies(await echo(version).handle(Self.field(100, rebuilt)), version) == ["w"])
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func aStateSentTwiceKeepsItsFirstPlaceAndItsLastValue(_ version: ProtocolVersion) async throws {
        let functions = StatefulFunctions()
        let specs = version == .v3 ? [ValueSpec("a", Int32.self), ValueSpec("b", Int32.self)] : []
        try functions.bind("example/echo", states: specs) { context, _ in
            try context.setState("a", to: (try context.state("a", as: Int32.self) ?? 0) + 1)
            try context.setState("b", to: (try context.state("b", as: Int32.self) ?? 0) + 1)
        }
        let body = try request(version, ["s"], states: [("b", 1), ("a", 10), ("b", 20)])
        let response = await RequestReplyHandler(functions, protocol: version).handle(body)
        switch version {
        case .v2:
            let mutations = try invocationResult(response).stateMutations
            #expect(mutations.map(\.stateName) == ["b", "a"])
            #expect(try mutations.map { try stateAny($0).unpack(Int32.self) } == [21, 11])
        case .v3:
            guard case .invocationResult(let result) = try v3Reply(response).response else { throw TestFailure("no result") }
            #expect(result.stateMutations.map(\.stateName) == ["a", "b"])  // 3.x: in the order of the specs
            #expect(try result.stateMutations.map { try Int32(packedBytes: [UInt8]($0.stateValue.value)) } == [11, 21])
        }
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func aReplacedStringOccurrenceMustBeUTF8Too(_ version: ProtocolVersion) async throws {
        // The target's id twice: first not UTF-8, then valid. protobuf keeps the
        // last but refuses the first; protobuf-c alone would see only the last.
        let body = try request(version, ["u"])
        let batch = try #require(Self.fields(Array(body.dropFirst(2 + Self.varintLength(body, at: 2)))))
        let target = try #require(batch.first { $0.number == 1 })
        let twice = Self.field(1, Self.field(3, [0xC3, 0x28]) + target.payload)
        let rebuilt = twice + batch.filter { $0.number != 1 }.flatMap(\.bytes)
        let response = try await echo(version).handle(Self.field(100, rebuilt))
        #expect(response.status == 400 && response.text.contains("the target address is not valid UTF-8"), "\(response.text)")
        // Valid both times: the last wins.
        let valid = Self.field(1, Self.field(3, Array("first".utf8)) + target.payload) + batch.filter { $0.number != 1 }.flatMap(\.bytes)
        #expect(try await replies(echo(version).handle(Self.field(100, valid)), version) == ["u"])
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func varintsOfAnyLengthUpToTenBytesAreRead(_ version: ProtocolVersion) async throws {
        // The batch's length prefix padded to 7 bytes (protobuf-c takes at most 5).
        let body = try request(version, ["p"])
        let batch = Array(body.dropFirst(2 + Self.varintLength(body, at: 2)))
        var padded = Self.varint(100 << 3 | 2)
        var length = batch.count
        for _ in 0..<6 { padded.append(UInt8(length & 0x7F) | 0x80); length >>= 7 }
        padded.append(UInt8(length))
        #expect(try await replies(echo(version).handle(padded + batch), version) == ["p"])
    }

    @Test func hasValueIsTheWholeVarintMaskedTo64Bits() async throws {
        // A 10-byte has_value whose only set bits lie past the 64th: protobuf reads false.
        let functions = StatefulFunctions()
        try functions.bind("example/echo", states: [ValueSpec("v", Int32.self)]) { context, _ in
            try context.send(to: Address(namespace: "example", type: "sink", id: "s"),
                             message: try AnyMessage(packing: try context.state("v", as: Int32.self) == nil ? "absent" : "present"))
        }
        let state: [UInt8] = Self.field(1, Array("v".utf8))
            + Self.field(2, Self.field(1, Array(Int32.typeName.utf8)) + [0x10] + [UInt8](repeating: 0x80, count: 9) + [0x7E])
        let body = try request(.v3, ["h"])
        let batch = try #require(Self.fields(Array(body.dropFirst(2 + Self.varintLength(body, at: 2)))))
        let rebuilt = batch.flatMap(\.bytes) + Self.field(2, state)
        #expect(try await replies(RequestReplyHandler(functions, protocol: .v3).handle(Self.field(100, rebuilt)), .v3) == ["absent"])
    }

    @Test func manyStatesSentTwiceAreFoundInLinearTime() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/echo") { context, _ in context["s7"] = try AnyMessage(packing: Int32(1)) }
        let states = (0..<20_000).map { ("s\($0 % 10_000)", Optional(Int32($0))) }
        let body = try request(.v2, ["x"], states: states)
        let result = try invocationResult(await RequestReplyHandler(functions, protocol: .v2).handle(body))
        #expect(result.stateMutations.map(\.stateName) == ["s7"])
    }

    // MARK: Wire pieces

    static func varintLength(_ bytes: [UInt8], at offset: Int) -> Int {
        var i = offset
        while i < bytes.count - 1 && bytes[i] & 0x80 != 0 { i += 1 }
        return i - offset + 1
    }

    static func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value), out: [UInt8] = []
        while value >= 0x80 { out.append(UInt8(value & 0x7F) | 0x80); value >>= 7 }
        return out + [UInt8(value)]
    }

    static func field(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
        varint(number << 3 | 2) + varint(payload.count) + payload
    }

    /// The length-delimited fields of a message: number, whole bytes, payload.
    static func fields(_ bytes: [UInt8]) -> [(number: Int, bytes: [UInt8], payload: [UInt8])]? {
        var out: [(Int, [UInt8], [UInt8])] = []
        var i = 0
        while i < bytes.count {
            let start = i
            // A malformed message is nil (a failed check), never an index out of range.
            func readVarint() -> Int? {
                var value = 0, shift = 0
                while i < bytes.count, shift < 64 {
                    let byte = bytes[i]
                    i += 1
                    value |= Int(byte & 0x7F) << shift
                    if byte & 0x80 == 0 { return value }
                    shift += 7
                }
                return nil
            }
            guard let tag = readVarint(), tag & 7 == 2, let length = readVarint(), length >= 0, length <= bytes.count - i
            else { return nil }
            out.append((tag >> 3, Array(bytes[start..<i + length]), Array(bytes[i..<i + length])))
            i += length
        }
        return out
    }
}

/// The examples count in fixed-width integers: a counter at its maximum fails
/// the batch with a 500 naming the function, the address and the state, where
/// `+ 1` would trap and take the whole endpoint down.
@Suite("The examples never trap: a counter at its maximum is a 500")
struct ExampleOverflowTests {
    @Test func greeterV3AtInt32Max() async throws {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let handler = RequestReplyHandler(functions, protocol: .v3)
        for (type, state) in [("greeter", "seen"), ("audit", "audits")] {
            let body = try v3Request(
                target: Address(namespace: "example", type: type, id: "ann"),
                states: [(state, typedValue(try AnyMessage(packing: Int32.max)))],
                invocations: [(nil, try AnyMessage(packing: "ann"))])
            let response = await handler.handle(body)
            #expect(response.status == 500)
            #expect(response.text.contains("example/\(type)/ann") && response.text.contains("state '\(state)' is at its maximum (2147483647)"),
                    "\(response.text)")
        }
    }

    @Test func greeterAtInt64Max() async throws {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        let handler = RequestReplyHandler(functions, protocol: .v2)
        let count = try AnyMessage(packing: Example_SeenCount.with { $0.seen = .max })
        let body = try toFunction(target: greeterAddress, states: [("seen_count", count)], invocations: [(nil, try greet("alice"))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
        #expect(response.text.contains("example/greeter/alice") && response.text.contains("state 'seen_count' is at its maximum"),
                "\(response.text)")
        // The same handler goes on answering.
        let next = try toFunction(target: greeterAddress, states: [("seen_count", nil)], invocations: [(nil, try greet("alice"))])
        #expect(await handler.handle(next).status == 200)
    }
}
