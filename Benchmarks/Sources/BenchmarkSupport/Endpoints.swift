import Foundation
public import StatefulFunctions
import ExampleGreeter
import ExampleGreeterV3

/// The payloads the benchmarks feed the handler: `ToFunction` bodies written
/// by `Load/payloads.py` with the official Python SDKs' classes.
public enum Payloads {
    /// `$STATEFUN_BENCH_PAYLOADS`, else `Benchmarks/.payloads` of this checkout.
    public static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["STATEFUN_BENCH_PAYLOADS"] {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".payloads")
    }

    /// The bytes of payload `name` (`v2-one`, `v3-batch100`, …); stops the process
    /// with a hint when the payloads were not generated.
    public static func load(_ name: String) -> [UInt8] {
        let url = directory.appendingPathComponent(name + ".bin")
        guard let data = try? Data(contentsOf: url) else {
            fatalError("no payload at \(url.path): run `make bench-payloads` (or scripts/bench.sh) first")
        }
        return [UInt8](data)
    }

    /// The number of invocations in each payload.
    public static func invocations(_ name: String) -> Int {
        if name.hasSuffix("batch1000") { return 1000 }
        if name.hasSuffix("batch100") { return 100 }
        return 1
    }
}

/// The handlers under test: the greeter examples, as their executables serve them.
public enum Endpoints {
    /// The 2.x greeter (and showcase) behind a 2.x handler.
    public static func v2() -> RequestReplyHandler {
        RequestReplyHandler(v2Functions(), protocol: .v2)
    }

    /// The functions of the 2.x handler.
    public static func v2Functions() -> StatefulFunctions {
        let functions = StatefulFunctions()
        try! Greeter.register(in: functions)
        return functions
    }

    /// The 3.x greeter behind a 3.x handler, and `bench/state`: a function that
    /// reads its `blob` state (a string) and writes it back one character longer,
    /// for the 64 KiB state payload.
    public static func v3() -> RequestReplyHandler {
        RequestReplyHandler(v3Functions(), protocol: .v3)
    }

    /// The functions of the 3.x handler.
    public static func v3Functions() -> StatefulFunctions {
        let functions = StatefulFunctions()
        try! GreeterV3.register(in: functions)
        try! functions.bind("bench/state", String.self, states: [ValueSpec("blob", String.self)]) { context, _ in
            let blob = try context.state("blob", as: String.self) ?? ""
            try context.setState("blob", to: blob + "x")
        }
        return functions
    }

    /// The handler for payload `name` (by its `v2-`/`v3-` prefix).
    public static func handler(for name: String) -> RequestReplyHandler {
        name.hasPrefix("v3") ? v3() : v2()
    }
}
