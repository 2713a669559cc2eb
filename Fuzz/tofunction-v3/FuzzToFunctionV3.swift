// StateFun 3.x: a request body decoded as `ToFunction` (protobuf-c, into the
// arena), its batch dispatched through RequestReplyHandler to a function that
// runs every context operation, and the `FromFunction` (or the
// `IncompleteInvocationContext`) encoded.
import FuzzSupport
import Logging
import StatefulFunctions

/// `fuzz/every` (states `count`: int, `note`: string expiring after write, `blob`: raw bytes)
/// picks its operations from the message's bytes, so the fuzzer reaches each.
let handler: RequestReplyHandler = {
    let functions = StatefulFunctions()
    do {
        let states = [
            ValueSpec("count", Int32.self),
            ValueSpec("note", String.self, expiration: .afterWrite(.seconds(60))),
            ValueSpec(name: "blob", typeName: "fuzz/blob"),
        ]
        try functions.bind("fuzz/every", states: states) { context, message in
            let ops = message.value.isEmpty ? [UInt8(0xFF)] : message.value
            let text = (try? message.unpack(String.self)) ?? "x"
            for (i, op) in ops.prefix(16).enumerated() {
                switch op % 12 {
                case 0:
                    let count = try context.state("count", as: Int32.self) ?? 0
                    try context.setState("count", to: count &+ 1)
                case 1: try context.deleteState("count")
                case 2: try context.setState("note", to: text)
                case 3: _ = context["blob"]
                case 4: try context.deleteState("note")
                case 5: context.send(try OutgoingMessage("fuzz/every", id: "\(i)", value: text))
                case 6:
                    try context.sendAfter(
                        .milliseconds(Int(op) + 1), try OutgoingMessage("fuzz/every", id: context.address.id, value: text),
                        cancellationToken: "token-\(op % 3)")
                case 7: try context.cancelDelayedMessage("token-\(op % 3)")
                case 8: context.sendEgress(try EgressMessage("fuzz/out", value: text))
                case 9: try? context.reply(message)
                case 10:
                    context.sendEgress(try kafkaEgressMessage(typename: "fuzz/kafka", topic: "t", key: text, value: text))
                    context.sendEgress(
                        try kinesisEgressMessage(typename: "fuzz/kinesis", stream: "s", partitionKey: "p", value: text))
                default:
                    _ = context.caller
                    _ = try? context.state("note", as: String.self)
                }
            }
        }
    } catch {
        fatalError("\(error)")
    }
    var logger = Logger(label: "statefun.fuzz")
    logger.logLevel = .critical
    return RequestReplyHandler(functions, protocol: .v3, logger: logger)
}()

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let body = Array(UnsafeBufferPointer(start: data, count: size))  // nil data: size 0
    let response = runBlocking { await handler.handle(body) }
    precondition([200, 400, 404, 500].contains(response.status), "unexpected status \(response.status)")
    return 0
}
