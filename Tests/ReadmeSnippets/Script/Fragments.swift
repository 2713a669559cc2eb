// README blocks that are fragments of a function, each in a function that
// supplies what the block takes as given (the registry, a context, a message).
import ReadmeMessages
import StatefulFunctions
import StatefunService

func anyMessage(user: User) throws {
// readme-block-begin
let any = try AnyMessage(packing: user)      // or AnyMessage.pack(user)
if any.is(User.self) {                       // compares the name after the last '/', like protobuf's Any.Is
    let unpacked = try any.unpack(User.self)
    print(unpacked.name)
}
// readme-block-end
}

func typeHints(functions: StatefulFunctions) throws {
// readme-block-begin
try functions.bind("example/hello", User.self) { context, user in
    print("Hello " + user.name)
}

try functions.bind("example/goodbye", accepting: [User.self, Admin.self]) { context, message in
    switch message {
    case let user as User: print("Goodbye user \(user.name)")
    case let admin as Admin: print("Goodbye admin \(admin.name)")
    default: break
    }
}
// readme-block-end
}

func messaging(functions: StatefulFunctions) throws {
// readme-block-begin
try functions.bind("example/caller") { context, _ in
    let user = User.with { $0.userID = "user1"; $0.name = "Seth" }
    try context.send("example/hello", id: user.userID, message: AnyMessage(packing: user))
    // or: try context.packAndSend("example/hello", id: user.userID, message: user)
}
// readme-block-end
}

func delayedMessages(functions: StatefulFunctions) throws {
// readme-block-begin
try functions.bind("example/delay") { context, _ in
    let response = Response.with { $0.message = "hello from the past" }
    guard let caller = context.caller else { return }
    try context.packAndSendAfter(.seconds(30 * 60), caller.typename, id: caller.id, message: response)
}
// readme-block-end
}

func persistence(functions: StatefulFunctions) throws {
// readme-block-begin
try functions.bind("example/count", User.self) { context, user in
    var count = Count()
    if let stored = context["count"] { count = try stored.unpack(Count.self) }
    count.value += 1
    context["count"] = try AnyMessage(packing: count)
    print(generateMessage(count.value, user))
}
// readme-block-end
}

func exposing(functions: StatefulFunctions, requestBody: [UInt8]) async -> RequestReplyResponse {
// readme-block-begin
let handler = RequestReplyHandler(functions)        // StateFun 3.x; protocol: .v2 for a 2.x runtime. Bind everything before this
let response = await handler.handle(requestBody)    // status, contentType, body
// readme-block-end
    return response
}

func mounting(handler: RequestReplyHandler, body: [UInt8]) async -> RequestReplyResponse {
// readme-block-begin
let reply = await handler.handle(body)   // body: the request's bytes, [UInt8]
// answer with reply.status, reply.contentType and reply.body ([UInt8])
// readme-block-end
    return reply
}

func limits(functions: StatefulFunctions) -> StatefunService {
// readme-block-begin
var configuration = HTTPServerConfiguration(port: 8000)
configuration.maxBodySize = 8 * 1024 * 1024
configuration.idleTimeout = .seconds(20)
configuration.headerTimeout = .seconds(5)
configuration.http2.maxConcurrentStreams = 100
let service = StatefunService(functions: functions, protocol: .v3, configuration: configuration)
// readme-block-end
    return service
}

func egressHelpers(context: Context, name: String, response: Response) throws -> Any {
// readme-block-begin
let record = try kafkaEgressRecord(topic: "greetings", key: name, value: response)
try context.packAndSendEgress("example/greets", message: record)

let kinesis = try kinesisEgressRecord(stream: "s", partitionKey: "pk", explicitHashKey: nil, value: response)
// readme-block-end
    return kinesis
}

func v3(functions: StatefulFunctions) async throws -> RequestReplyHandler {
// readme-block-begin
let handler = RequestReplyHandler(functions)                           // 3.x: bytes in, bytes out
try await StatefunService(functions: functions).run()                  // 3.x, served by our server
try await StatefunService(functions: functions, protocol: .v2).run()   // for a StateFun 2.x runtime
// readme-block-end
    return handler
}

func valueSpecs(functions: StatefulFunctions) throws {
// readme-block-begin
try functions.bind("example/greeter", String.self, states: [
    ValueSpec("seen", Int32.self),
    ValueSpec("last", String.self, expiration: .afterWrite(.seconds(3600))),
    ValueSpec("session", Session.self, expiration: .afterInvoke(.seconds(300))),
]) { context, name in
    let seen = (try context.state("seen", as: Int32.self) ?? 0) + 1
    try context.setState("seen", to: seen)
}
// readme-block-end
}

func v3Messages(context: Context, name: String, seen: Int32, target: Address, reminder: String, id: String, user: User) throws {
// readme-block-begin
context.send(try OutgoingMessage("example/audit", id: name, value: "\(name) reached \(seen)"))
try context.sendAfter(.seconds(100), OutgoingMessage(to: target, value: reminder), cancellationToken: "reminder-\(id)")
try context.cancelDelayedMessage("reminder-\(id)")
context.sendEgress(try EgressMessage("example/out", value: "\(name):\(seen)"))
context.sendEgress(try kafkaEgressMessage(typename: "example/kafka", topic: "greetings", key: name, value: "Hello \(name)"))
context.sendEgress(try kafkaEgressMessage(typename: "example/kafka", topic: "counts", key: name, value: Int64(seen)))
context.sendEgress(try kafkaEgressMessage(typename: "example/kafka", topic: "users", value: user, valueType: User.self))
context.sendEgress(try kinesisEgressMessage(typename: "example/kinesis", stream: "s", partitionKey: name, value: "Hello \(name)"))
// readme-block-end
}
