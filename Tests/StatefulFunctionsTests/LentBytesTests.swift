import Foundation
import Greeter
import StatefulFunctions
import StatefulFunctionsProtobuf
import SwiftProtobuf
import Testing

/// A user's message type that decodes from lent bytes (`init(packedBytes: RawSpan)`)
/// and remembers which form decoded it.
struct Envelope: PackableMessage {
    static let typeName = "test.lent/Envelope"

    enum Form: String { case array, span, none }

    var request: Example_GreetRequest
    var decodedFrom: Form

    init(_ name: String) {
        request = .with { $0.name = name }
        decodedFrom = .none
    }

    init(packedBytes: [UInt8]) throws {
        request = try Example_GreetRequest(serializedBytes: packedBytes)
        decodedFrom = .array
    }

    init(packedBytes bytes: RawSpan) throws {
        request = try Example_GreetRequest(serializedBytes: bytes)
        decodedFrom = .span
    }

    func packedBytes() throws -> [UInt8] { try request.serializedBytes() }
}

/// A type with the array form only: the default span form copies for it.
struct Letters: PackableMessage, Equatable {
    static let typeName = "test.lent/Letters"
    var letters: [UInt8]

    init(packedBytes: [UInt8]) throws { letters = packedBytes }
    func packedBytes() throws -> [UInt8] { letters }
}

@Suite struct LentBytesTests {
    let target = Address(namespace: "test", type: "lent", id: "1")
    let sink = Address(namespace: "test", type: "sink", id: "1")

    /// A function bound to `Envelope` that sends each message on to `test/sink`,
    /// its name prefixed with the form that decoded it.
    func forwarder() throws -> StatefulFunctions {
        let functions = StatefulFunctions()
        try functions.bind("test/lent", Envelope.self) { context, envelope in
            try context.packAndSend("test/sink", id: "1", message: Envelope("\(envelope.decodedFrom):\(envelope.request.name)"))
        }
        try functions.bind("test/letters", Letters.self) { context, message in
            try context.packAndSend("test/sink", id: "1", message: Letters(packedBytes: message.letters.reversed()))
        }
        return functions
    }

    @Test func aTypedFunctionDecodesItsMessageFromTheLentBytesUnder2x() async throws {
        let handler = RequestReplyHandler(try forwarder(), protocol: .v2)
        let body = try toFunction(
            target: target, invocations: [(nil, try AnyMessage(packing: Envelope("ann"))), (nil, try AnyMessage(packing: Envelope("bo")))])
        let result = try invocationResult(await handler.handle(body))
        try #require(result.outgoingMessages.count == 2)
        let names = try result.outgoingMessages.map { outgoing in
            #expect(outgoing.argument.typeURL == Envelope.typeName)
            return try AnyMessage(outgoing.argument).unpack(Envelope.self).request.name
        }
        #expect(names == ["span:ann", "span:bo"])
    }

    @Test func aTypedFunctionDecodesItsMessageFromTheLentBytesUnder3x() async throws {
        let handler = RequestReplyHandler(try forwarder(), protocol: .v3)
        let body = try v3Request(target: target, invocations: [(nil, try AnyMessage(packing: Envelope("cy")))])
        let result = try v3Reply(await handler.handle(body)).invocationResult
        let outgoing = try element(result.outgoingMessages, 0)
        #expect(outgoing.argument.typename == Envelope.typeName)
        let envelope = try AnyMessage(typeURL: outgoing.argument.typename, value: [UInt8](outgoing.argument.value))
            .unpack(Envelope.self)
        #expect(envelope.request.name == "span:cy")
        #expect(envelope.decodedFrom == .array)
    }

    @Test(arguments: [ProtocolVersion.v2, .v3])
    func aTypeWithTheArrayFormOnlyGetsACopy(_ version: ProtocolVersion) async throws {
        let handler = RequestReplyHandler(try forwarder(), protocol: version)
        let letters = Address(namespace: "test", type: "letters", id: "1")
        let argument = try AnyMessage(packing: Letters(packedBytes: Array("abc".utf8)))
        let arguments: [[UInt8]]
        if version == .v2 {
            let result = try invocationResult(await handler.handle(try toFunction(target: letters, invocations: [(nil, argument)])))
            arguments = result.outgoingMessages.map { [UInt8]($0.argument.value) }
        } else {
            let reply = try v3Reply(await handler.handle(try v3Request(target: letters, invocations: [(nil, argument)])))
            arguments = reply.invocationResult.outgoingMessages.map { [UInt8]($0.argument.value) }
        }
        #expect(arguments == [Array("cba".utf8)])
    }

    @Test func malformedLentBytesFailTheBatch() async throws {
        let handler = RequestReplyHandler(try forwarder(), protocol: .v2)
        let body = try toFunction(target: target, invocations: [(nil, AnyMessage(typeURL: Envelope.typeName, value: [0x0A, 0x05, 0x61]))])
        let response = await handler.handle(body)
        #expect(response.status == 500)
    }
}
