// swift-tools-version:6.2
// The micro-benchmarks (ordo-one/benchmark, with its malloc counting) and the
// profiling driver, in a package of their own so that the product's build
// and CI never fetch or build the benchmark tooling. Run from the repository
// root: `make bench-micro`, or `swift package --package-path Benchmarks benchmark`.
import Foundation
import PackageDescription

// A path dependency is named after its folder: the clone's, whatever it is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let sdk = root.lastPathComponent

let package = Package(
    name: "swift-statefun-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The examples' functions, built here from their sources (symbolic links into
        // Examples/; other module names, as target names are unique across packages):
        // the SDK's package does not export its examples as products.
        .target(
            name: "ExampleGreeter",
            dependencies: [
                .product(name: "StatefulFunctions", package: sdk),
                .product(name: "StatefulFunctionsProtobuf", package: sdk),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .target(name: "ExampleGreeterV3", dependencies: [.product(name: "StatefulFunctions", package: sdk)]),
        // Payloads and endpoint set-up shared by the benchmarks and the profiling driver.
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "StatefulFunctions", package: sdk),
                .product(name: "StatefulFunctionsProtobuf", package: sdk),
                "ExampleGreeter",
                "ExampleGreeterV3",
            ]),
        .executableTarget(
            name: "Handler",
            dependencies: ["BenchmarkSupport", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/Handler",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        // Runs one payload through the handler N times: for callgrind and perf.
        .executableTarget(name: "handler-profile", dependencies: ["BenchmarkSupport"]),
        // Serves one payload through the real server, driven over a Unix socket: for callgrind.
        .executableTarget(
            name: "server-profile",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "StatefunService", package: sdk),
                .product(name: "StatefunServer", package: sdk),
            ]),
    ]
)
