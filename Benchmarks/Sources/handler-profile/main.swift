// Runs one payload through the handler N times, for callgrind and perf:
//   handler-profile PAYLOAD [N]      (PAYLOAD: v2-one, v2-batch100, v3-state64k, …)
// Prints the time per request and per invocation (wall clock, one thread).
// The main thread waits on a semaphore rather than being an async main, which
// valgrind cannot run.
import BenchmarkSupport
import Dispatch
import Foundation
import StatefulFunctions

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: handler-profile PAYLOAD [N]")
    exit(2)
}
let name = arguments[1]
let count = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
let body = Payloads.load(name)
let handler = Endpoints.handler(for: name)
let done = DispatchSemaphore(value: 0)
Task.detached {
    let first = await handler.handle(body)
    guard first.status == 200 else {
        print("the handler answered \(first.status): \(String(decoding: first.body, as: UTF8.self))")
        exit(1)
    }
    let clock = ContinuousClock()
    let start = clock.now
    var bytes = 0
    for _ in 0..<count {
        bytes &+= await handler.handle(body).body.count
    }
    let elapsed = clock.now - start
    let nanos = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    let perRequest = nanos / Double(count)
    print("\(name): \(count) requests, \(String(format: "%.2f", perRequest / 1000)) µs per request, "
        + "\(String(format: "%.0f", perRequest / Double(Payloads.invocations(name)))) ns per invocation, "
        + "\(bytes / count) bytes answered")
    done.signal()
}
done.wait()
