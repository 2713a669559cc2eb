import Foundation
import StatefulFunctions
import SwiftProtobuf
import Testing

/// String fields keep every byte, a NUL included, and are refused when they are
/// not UTF-8 (proto3's rule, which the official SDKs enforce): a NUL must never
/// cut an address short and send a reply to another function instance.
@Suite("String fields on the wire: NUL kept, invalid UTF-8 refused with a 400 naming the field")
struct WireStringTests {
    static let nul = "\u{0}"
    let target = Address(namespace: "ex\(nul)ns", type: "echo", id: "t-1\(nul)tail")
    let caller = Address(namespace: "example", type: "caller", id: "c-1\(nul)other")
    let typeURL = "type.googleapis.com/x\(nul)y"
    let stateName = "st\(nul)ate"

    /// Replies to its caller with its argument, sends it on, stores it, and
    /// sends it to an egress and after a delay: every string field of a reply.
    func echo(_ version: ProtocolVersion) throws -> RequestReplyHandler {
        let functions = StatefulFunctions()
        let states = version == .v3 ? [ValueSpec(name: stateName, typeName: typeURL)] : []
        try functions.bind("ex\(Self.nul)ns/echo", states: states) { context, message in
            try context.reply(message)
            try context.send(to: Address(namespace: "to\(Self.nul)ns", type: "t", id: "i\(Self.nul)d"), message: message)
            try context.sendEgress("eg\(Self.nul)ress/out", message: message)
            context[stateName] = message
        }
        return RequestReplyHandler(functions, protocol: version)
    }

    @Test func everyStringOfA2xRequestAndReplyKeepsItsNUL() async throws {
        let argument = AnyMessage(typeURL: typeURL, value: [1, 0, 2])
        let body = try toFunction(
            target: target, states: [(stateName, nil)], invocations: [(caller: caller, argument: argument)])
        let result = try invocationResult(await echo(.v2).handle(body))
        let reply = try #require(result.outgoingMessages.first)
        #expect(address(reply.target) == caller)
        #expect(reply.argument.typeURL == typeURL && [UInt8](reply.argument.value) == [1, 0, 2])
        #expect(result.outgoingMessages.map { address($0.target) }.last == Address(namespace: "to\(Self.nul)ns", type: "t", id: "i\(Self.nul)d"))
        #expect(result.outgoingEgresses.map { "\($0.egressNamespace)/\($0.egressType)" } == ["eg\(Self.nul)ress/out"])
        let mutation = try #require(result.stateMutations.first)
        #expect(mutation.stateName == stateName)
        #expect(try stateAny(mutation) == argument)
    }

    @Test func everyStringOfA3xRequestAndReplyKeepsItsNUL() async throws {
        let argument = AnyMessage(typeURL: typeURL, value: [1, 0, 2])
        let body = try v3Request(
            target: target, states: [(stateName, typedValue(nil, typeName: typeURL))],
            invocations: [(caller: caller, argument: argument)])
        guard case .invocationResult(let result) = try v3Reply(await echo(.v3).handle(body)).response else {
            Issue.record("no invocation result"); return
        }
        let reply = try #require(result.outgoingMessages.first)
        #expect(Address(namespace: reply.target.namespace, type: reply.target.type, id: reply.target.id) == caller)
        #expect(reply.argument.typename == typeURL && [UInt8](reply.argument.value) == [1, 0, 2])
        #expect(result.outgoingEgresses.map { "\($0.egressNamespace)/\($0.egressType)" } == ["eg\(Self.nul)ress/out"])
        #expect(result.stateMutations.map(\.stateName) == [stateName])
        #expect(result.stateMutations.first?.stateValue.typename == typeURL)
    }

    /// A request whose `field` (a string holding `marker`) has its marker's
    /// bytes replaced by bytes that are not UTF-8.
    static func corrupting(_ body: [UInt8], _ marker: String) throws -> [UInt8] {
        let needle = Array(marker.utf8)
        var body = body
        let start = try #require((0...(body.count - needle.count)).first { Array(body[$0..<$0 + needle.count]) == needle })
        body.replaceSubrange(start..<start + 2, with: [0xC3, 0x28])  // a lead byte without its continuation
        return body
    }

    static let fields: [(marker: String, named: String)] = [
        ("NSMARK", "the target address"), ("TYMARK", "the target address"), ("IDMARK", "the target address"),
        ("CALLNS", "a caller address"), ("CALLID", "a caller address"), ("STMARK", "a state name"),
        ("ARGURL", "an argument"), ("VALURL", "type"),
    ]

    @Test(arguments: fields)
    func invalidUTF8InAnyStringFieldIs400NamingIt(_ field: (marker: String, named: String)) async throws {
        let target = Address(namespace: "NSMARK", type: "TYMARK", id: "IDMARK")
        let caller = Address(namespace: "CALLNS", type: "caller", id: "CALLID")
        for version in [ProtocolVersion.v2, .v3] {
            let functions = StatefulFunctions()
            let states = version == .v3 ? [ValueSpec(name: "STMARK", typeName: "x/VALURL")] : []
            try functions.bind("NSMARK/TYMARK", states: states) { _, _ in }
            let handler = RequestReplyHandler(functions, protocol: version)
            let argument = AnyMessage(typeURL: "x/ARGURL", value: [])
            let state = AnyMessage(typeURL: "x/VALURL", value: [7])
            let body = version == .v2
                ? try toFunction(target: target, states: [("STMARK", state)], invocations: [(caller, argument)])
                : try v3Request(target: target, states: [("STMARK", typedValue(state))], invocations: [(caller, argument)])
            #expect(await handler.handle(body).status == 200, "the request is valid before the corruption")
            let response = await handler.handle(try Self.corrupting(body, field.marker))
            if version == .v2 && field.marker == "VALURL" {
                // The official 2.x SDK parses a state's Any only when the function reads it; this one does not.
                #expect(response.status == 200, "\(response.text)")
                continue
            }
            #expect(response.status == 400, "\(version) \(field.marker): \(response.text)")
            #expect(response.text.contains("not valid UTF-8") && response.text.contains(field.named),
                    "\(version) \(field.marker): \(response.text)")
        }
    }

    @Test func aBuiltInStringThatIsNotUTF8Is400() async throws {
        let functions = StatefulFunctions()
        try functions.bind("example/strings", String.self) { _, _ in }
        let handler = RequestReplyHandler(functions, protocol: .v3)
        for wrapper: [UInt8] in [[0x0A, 0x02, 0xC3, 0x28], [0x0A, 0x01, 0xFF, 0x0A, 0x01, 0x41]] {
            let body = try v3Request(
                target: Address(namespace: "example", type: "strings", id: "s"),
                invocations: [(nil, AnyMessage(typeURL: String.typeName, value: wrapper))])
            let response = await handler.handle(body)
            #expect(response.status == 400, "\(wrapper): \(response.text)")
            #expect(response.text.contains("not valid UTF-8"), "\(response.text)")
        }
        #expect(throws: StatefulFunctionsError.self) { try String(packedBytes: [0x0A, 0x01, 0x80]) }
        #expect(try String(packedBytes: [0x0A, 0x03, 0x61, 0x00, 0x62]) == "a\u{0}b")
    }
}
