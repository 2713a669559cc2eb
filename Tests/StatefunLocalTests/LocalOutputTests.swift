import ChildProcess
import Foundation
import GreeterV3
import StatefulFunctions
import Synchronization
import Testing

/// A JSONMessage type, as a user's module has them.
struct Cart: JSONMessage, Equatable {
    static let typeName = "com.example/Cart"
    var items: [String]
}

/// What statefun-local takes and prints for JSON messages, states and interrupted runs.
@Suite struct LocalOutputTests {
    @Test func jsonMessagesGoInAsJSONAndComeOutAsJSON() async throws {
        let server = try serve { functions in
            try functions.bind("example/cart", Cart.self) { context, cart in
                let more = Cart(items: cart.items + ["pear"])
                context.sendEgress(try EgressMessage("example/out", value: more))
                context.sendEgress(try kafkaEgressMessage(typename: "example/audit-out", topic: "carts", value: more, valueType: Cart.self))
                context.sendEgress(try kafkaEgressMessage(typename: "example/audit-out", topic: "texts", value: "Zoë"))
            }
        }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        // No descriptor set: "json" of a type that is no protobuf message is that JSON's bytes.
        let input = #"{"target": "example/cart/c1", "type": "com.example/Cart", "json": {"items": ["apple"]}}"#
        let result = try await run(statefunLocal, ["--module", module], input: input)
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.egress == [
            #"{"egress":"example/out","json":{"items":["apple","pear"]},"type":"com.example/Cart"}"#,
            #"{"egress":"example/audit-out","key":"","record_value":{"json":{"items":["apple","pear"]}},"topic":"carts","type":"type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord"}"#,
            #"{"egress":"example/audit-out","key":"","record_value":{"text":"Zoë"},"topic":"texts","type":"type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord"}"#,
        ], "\(result.stdout)")
    }

    @Test func dumpStatePrintsEachAddresssFinalState() async throws {
        let server = try serve(GreeterV3.register(in:))
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(
            statefunLocal, ["--module", module, "--dump-state"], input: names(["ann", "bob", "ann", "ann"]))
        let plain = try await run(statefunLocal, ["--module", module], input: names(["ann"]))
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 0, "\(result.stderr)")
        let states = result.egress.filter { $0.hasPrefix(#"{"address""#) }
        #expect(states == [
            #"{"address":"example/greeter/ann","state":"seen","type":"io.statefun.types/int","value":3}"#,
            #"{"address":"example/greeter/bob","state":"seen","type":"io.statefun.types/int","value":1}"#,
        ], "\(result.stdout)")
        // After the egress records.
        #expect(result.egress.suffix(2) == states[...])
        #expect(plain.status == 0 && !plain.stdout.contains(#""address""#), "\(plain.stdout)")
    }

    /// SIGINT while a delayed message waits on the real clock: the summary so far, exit 130.
    @Test func sigintPrintsTheSummary() async throws {
        let invoked = Atomic<Bool>(false)
        let server = try serve { functions in
            try functions.bind("example/waiter", String.self) { context, _ in
                try context.sendAfter(.seconds(3600), OutgoingMessage("example/waiter", id: "later", value: "x"))
                invoked.store(true, ordering: .sequentiallyConsistent)
            }
        }
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let (status, stderr) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Int32, String), any Error>) in
            Thread {
                continuation.resume(with: Result {
                    let (stdin, stderr) = (Pipe(), Pipe())
                    let process = try ChildProcess(
                        statefunLocal, ["--module", module], stdin: .descriptor(stdin.fileHandleForReading.fileDescriptor),
                        stderr: .descriptor(stderr.fileHandleForWriting.fileDescriptor))
                    try stdin.fileHandleForReading.close()
                    try stderr.fileHandleForWriting.close()
                    stdin.fileHandleForWriting.write(Data(names(["w"], to: "example/waiter").utf8))
                    try stdin.fileHandleForWriting.close()
                    // The handler is installed before the input is read, so before the function runs.
                    while !invoked.load(ordering: .sequentiallyConsistent) && process.isRunning {
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                    process.kill(SIGINT)
                    // Ended by SIGINT, not waiting for its delayed message: a minute is a hang, not a slow machine.
                    for _ in 0..<6000 where process.isRunning { Thread.sleep(forTimeInterval: 0.01) }
                    if process.isRunning { process.kill(SIGKILL) }
                    let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    return (process.waitUntilExit(), text)
                })
            }.start()
        }
        server.shutdown()
        await server.waitUntilStopped()
        #expect(status == 130, "\(stderr)")
        #expect(stderr.contains("statefun-local: interrupted; 1 messages, "), "\(stderr)")
        #expect(stderr.contains(" egress records, 0 delayed deliveries; latency"), "\(stderr)")
    }
}
