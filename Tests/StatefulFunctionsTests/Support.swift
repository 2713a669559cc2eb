import Testing
import Greeter
import StatefulFunctions
import StatefulFunctionsProtobuf
import SwiftProtobuf

typealias PBAddress = Org_Apache_Flink_Statefun_Flink_Core_Polyglot_Address
typealias ToFunction = Org_Apache_Flink_Statefun_Flink_Core_Polyglot_ToFunction
typealias FromFunction = Org_Apache_Flink_Statefun_Flink_Core_Polyglot_FromFunction
typealias PBKafkaRecord = Org_Apache_Flink_Statefun_Flink_Io_KafkaProducerRecord
typealias PBKinesisRecord = Org_Apache_Flink_Statefun_Flink_Io_KinesisEgressRecord

/// Builds a `ToFunction` with swift-protobuf, independently of the SDK's protobuf-c codec.
func toFunction(
    target: Address, states: [(String, AnyMessage?)] = [],
    invocations: [(caller: Address?, argument: AnyMessage)]
) throws -> [UInt8] {
    var batch = ToFunction.InvocationBatchRequest()
    batch.target = pbAddress(target)
    batch.state = try states.map { name, value in
        var state = ToFunction.PersistedValue()
        state.stateName = name
        if let value { state.stateValue = try value.googleProtobufAny.serializedData() }
        return state
    }
    batch.invocations = invocations.map { caller, argument in
        var invocation = ToFunction.Invocation()
        if let caller { invocation.caller = pbAddress(caller) }
        invocation.argument = argument.googleProtobufAny
        return invocation
    }
    var request = ToFunction()
    request.invocation = batch
    return try request.serializedBytes()
}

func pbAddress(_ address: Address) -> PBAddress {
    PBAddress.with {
        $0.namespace = address.namespace
        $0.type = address.type
        $0.id = address.id
    }
}

func address(_ pb: PBAddress) -> Address {
    Address(namespace: pb.namespace, type: pb.type, id: pb.id)
}

/// Decodes a successful reply with swift-protobuf.
func invocationResult(_ response: RequestReplyResponse) throws -> FromFunction.InvocationResponse {
    guard response.status == 200 else {
        throw TestFailure("status \(response.status): \(String(decoding: response.body, as: UTF8.self))")
    }
    guard response.contentType == "application/octet-stream" else { throw TestFailure("content type \(response.contentType)") }
    let reply = try FromFunction(serializedBytes: response.body)
    guard case .invocationResult(let result) = reply.response else { throw TestFailure("no invocation result") }
    return result
}

/// A state value as the runtime would store it: the bytes of an `Any`.
func stateAny(_ mutation: FromFunction.PersistedValueMutation) throws -> AnyMessage {
    AnyMessage(try Google_Protobuf_Any(serializedBytes: mutation.stateValue))
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension RequestReplyResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
}

let greeterAddress = Address(namespace: "example", type: "greeter", id: "alice")
let callerAddress = Address(namespace: "example", type: "caller", id: "c1")

func greet(_ name: String) throws -> AnyMessage {
    try AnyMessage(packing: Example_GreetRequest.with { $0.name = name })
}

/// The element at `index`, or a recorded failure when the collection is
/// shorter: a test that fails goes on failing as itself, not as a crash of
/// the whole test process ("Index out of range") that hides every other failure.
func element<C: RandomAccessCollection>(
    _ collection: C, _ index: Int, sourceLocation: SourceLocation = #_sourceLocation
) throws -> C.Element where C.Index == Int {
    try #require(
        collection.indices.contains(index), "no element \(index): there are \(collection.count)",
        sourceLocation: sourceLocation)
    return collection[index]
}
