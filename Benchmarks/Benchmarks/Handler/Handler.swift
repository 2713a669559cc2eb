// The handler's cost per request and per invocation: decode `ToFunction`,
// run the greeter, encode `FromFunction`, on the payloads of Load/payloads.py.
// Allocation counts come from ordo-one/benchmark's malloc interposer.
import Benchmark
import BenchmarkSupport
import StatefulFunctions

let payloads = [
    "v2-one", "v2-batch100", "v2-batch1000", "v2-state64k",
    "v3-one", "v3-batch100", "v3-batch1000", "v3-state64k",
]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        maxDuration: .seconds(3), maxIterations: 100_000)

    for name in payloads {
        let body = Payloads.load(name)
        let handler = Endpoints.handler(for: name)
        let invocations = Payloads.invocations(name)
        // Per request: one iteration is one request.
        Benchmark("\(name) per request") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(await handler.handle(body))
            }
        }
        // Per invocation: each measured iteration runs 1000 invocations (1000 / batch
        // size requests); with the `.kilo` scaling the figures shown are per invocation.
        Benchmark("\(name) per invocation", configuration: .init(scalingFactor: .kilo)) { benchmark in
            for _ in 0..<(benchmark.scaledIterations.count / invocations) {
                blackHole(await handler.handle(body))
            }
        }
    }
}
