// StateFun 2.x: a request body decoded as `ToFunction` (protobuf-c, into the
// arena), its batch dispatched through RequestReplyHandler to the Greeter and
// the Showcase (which runs every 2.x context operation on command), and the
// `FromFunction` encoded.
import FuzzSupport
import Greeter
import Logging
import StatefulFunctions

let handler: RequestReplyHandler = {
    let functions = StatefulFunctions()
    do {
        try Greeter.register(in: functions)
        try Showcase.register(in: functions)
    } catch {
        fatalError("\(error)")
    }
    var logger = Logger(label: "statefun.fuzz")
    logger.logLevel = .critical
    return RequestReplyHandler(functions, protocol: .v2, logger: logger)
}()

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let body = Array(UnsafeBufferPointer(start: data, count: size))  // nil data: size 0
    let response = runBlocking { await handler.handle(body) }
    precondition([200, 400, 404, 500].contains(response.status), "unexpected status \(response.status)")
    return 0
}
