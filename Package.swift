// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-statefun",
    // The SDK (StatefulFunctions, StatefulFunctionsProtobuf) and StatefunTestKit
    // have no Linux-only code and need macOS 15 there (Synchronization's Mutex);
    // the server and everything built on it (epoll, eventfd) are Linux-only.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StatefulFunctions", targets: ["StatefulFunctions"]),
        .library(name: "StatefulFunctionsProtobuf", targets: ["StatefulFunctionsProtobuf"]),
        .library(name: "StatefunServer", targets: ["StatefunServer"]),
        .library(name: "StatefunService", targets: ["StatefunService"]),
        .library(name: "StatefunCommandLine", targets: ["StatefunCommandLine"]),
        .library(name: "StatefunTestKit", targets: ["StatefunTestKit"]),
        .executable(name: "greeter", targets: ["greeter"]),
        .executable(name: "greeter-v3", targets: ["greeter-v3"]),
        .executable(name: "verification", targets: ["verification"]),
        .executable(name: "statefun-local", targets: ["statefun-local"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(
            name: "CProtobufC", path: "Sources/CProtobufC", pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"]), .brew(["protobuf-c"])]),
        .systemLibrary(
            name: "CNghttp2", path: "Sources/CNghttp2", pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"]), .brew(["nghttp2"])]),
        // protoc-c output for the wire schemas (scripts/generate-protocol.sh).
        .target(name: "CStatefunProtocol", dependencies: ["CProtobufC"]),
        // Socket and epoll constants the Swift importer cannot reach.
        .target(name: "CLinuxShims"),
        // The lock every target guards shared state with (over pthread_mutex_t, which ThreadSanitizer sees).
        .target(name: "StatefunLocks", swiftSettings: strict),
        // The wall between the system and Swift that the server and statefun-local share: the syscall
        // wrapper (errno as a result), the socket calls both make, and the nghttp2 session (callbacks,
        // options, recv/send/submit) in a server and a client role. Package-internal: no product.
        .target(name: "StatefunSystem", dependencies: ["CNghttp2"], swiftSettings: strict),

        // The SDK: registry, context, messages, state, egress, handler. No sockets.
        .target(
            name: "StatefulFunctions",
            dependencies: ["CStatefunProtocol", "StatefunLocks", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict),
        // swift-protobuf messages as StateFun messages.
        .target(
            name: "StatefulFunctionsProtobuf",
            dependencies: ["StatefulFunctions", "StatefunLocks", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict),
        // The epoll HTTP server. Knows nothing of StateFun.
        .target(
            name: "StatefunServer",
            dependencies: ["CLinuxShims", "StatefunSystem", "StatefunLocks", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict),
        // Glue: serve a StatefulFunctions registry with StatefunServer.
        .target(
            name: "StatefunService",
            dependencies: ["StatefulFunctions", "StatefunServer", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict),

        // The runtime's side, shared by StatefunTestKit and statefun-local: state store,
        // delayed-message queue, per-address batch scheduler. Package-internal: no product.
        .target(name: "StatefunRuntime", dependencies: ["StatefulFunctions"], swiftSettings: strict),

        // Run functions in-process with the runtime's semantics, for users' tests.
        .target(
            name: "StatefunTestKit", dependencies: ["StatefulFunctions", "StatefunRuntime"],
            swiftSettings: strict),

        // statefun-local: plays the StateFun runtime against endpoints over HTTP.
        .target(
            name: "StatefunLocal",
            dependencies: ["StatefulFunctions", "StatefunRuntime", "StatefunSystem", "StatefunLocks", .product(name: "Yams", package: "Yams"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict),
        .executableTarget(
            name: "statefun-local",
            dependencies: ["StatefunLocal", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),

        // The operator's command line for a module's executable (flags and STATEFUN_* variables,
        // the supervised mode): what the examples and a user's own module serve with.
        .target(
            name: "StatefunCommandLine",
            dependencies: ["StatefulFunctions", "StatefunServer", "StatefunService",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Each example: its functions as a library (tests use them), and the executable.
        .target(
            name: "Greeter",
            dependencies: ["StatefulFunctions", "StatefulFunctionsProtobuf",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Examples/Greeter/Sources/Greeter",
            swiftSettings: strict),
        .executableTarget(
            name: "greeter",
            dependencies: ["Greeter", "StatefunCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/Greeter/Sources/greeter",
            swiftSettings: strict),
        .target(
            name: "GreeterV3", dependencies: ["StatefulFunctions"],
            path: "Examples/GreeterV3/Sources/GreeterV3", swiftSettings: strict),
        .executableTarget(
            name: "greeter-v3",
            dependencies: ["GreeterV3", "StatefunCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/GreeterV3/Sources/greeter-v3",
            swiftSettings: strict),
        .target(
            name: "Verification",
            dependencies: ["StatefulFunctions", "StatefulFunctionsProtobuf",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Examples/Verification/Sources/Verification", swiftSettings: strict),
        .executableTarget(
            name: "verification",
            dependencies: ["Verification", "StatefunCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/Verification/Sources/verification",
            swiftSettings: strict),

        // The greeter plus a function that traps on one message: what the crash-containment tests serve.
        .executableTarget(
            name: "statefun-crash-test",
            dependencies: ["Greeter", "StatefunCommandLine", "StatefulFunctions",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tests/CrashTestServer", swiftSettings: strict),

        // The README's Swift blocks, compiled as written (Tests/ReadmeTests checks
        // that each README block is one of these copies): the messages they name,
        // the blocks with top-level code and the fragments, the @main command.
        .target(
            name: "ReadmeMessages", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Tests/ReadmeSnippets/Messages"),
        .executableTarget(
            name: "readme-snippets",
            dependencies: ["ReadmeMessages", "StatefulFunctions", "StatefulFunctionsProtobuf", "StatefunService"],
            path: "Tests/ReadmeSnippets/Script"),
        .executableTarget(
            name: "readme-module",
            dependencies: ["StatefulFunctions", "StatefunCommandLine",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tests/ReadmeSnippets/Module"),

        // Starts the programs the tests run (posix_spawn; not Foundation's Process, see the file).
        .target(name: "ChildProcess", dependencies: ["StatefunLocks"], path: "Tests/ChildProcess", swiftSettings: strict),
        .testTarget(name: "StatefunLocksTests", dependencies: ["StatefunLocks"], swiftSettings: strict),
        .testTarget(
            name: "StatefulFunctionsTests",
            dependencies: ["StatefulFunctions", "StatefulFunctionsProtobuf", "Greeter", "GreeterV3", "Verification",
                           "ChildProcess", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict),
        .testTarget(name: "StatefunRuntimeTests", dependencies: ["StatefunRuntime", "StatefulFunctions"], swiftSettings: strict),
        .testTarget(
            name: "StatefunTestKitTests",
            dependencies: ["StatefunTestKit", "StatefulFunctions", "GreeterV3", "Greeter"],
            swiftSettings: strict),
        .testTarget(
            name: "StatefunLocalTests",
            dependencies: ["StatefunLocal", "StatefunService", "StatefunServer", "Greeter", "GreeterV3", "StatefulFunctions",
                           "StatefulFunctionsProtobuf", "StatefunTestKit", "ChildProcess", "StatefunLocks",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Python", "Protos"],
            swiftSettings: strict),
        .testTarget(
            name: "StatefunServerTests",
            dependencies: ["StatefunServer", "CNghttp2", "ChildProcess", "StatefunLocks", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict),
        .testTarget(
            name: "ReadmeTests", dependencies: ["StatefunTestKit", "GreeterV3", "ChildProcess"],
            swiftSettings: strict),
        .testTarget(
            name: "StatefunServiceTests",
            dependencies: ["StatefunService", "Greeter", "GreeterV3", "Verification", "ChildProcess", "StatefunLocks",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Prometheus", package: "swift-prometheus")],
            exclude: ["Python"],
            swiftSettings: strict),
    ]
)

// Fuzz targets (libFuzzer), only with STATEFUN_FUZZ=1 so that normal builds stay lean:
// STATEFUN_FUZZ=1 swift build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address
//     --product fuzz-http-parser   (scripts/fuzz.sh does this). Each target's main hands
// control to libFuzzer (LLVMFuzzerRunDriver): SwiftPM renames an executable's main.
if Context.environment["STATEFUN_FUZZ"] == "1" {
    package.targets += [
        .target(name: "CFuzzer", path: "Fuzz/CFuzzer"),
        .target(
            name: "FuzzSupport",
            dependencies: ["CFuzzer", "StatefunServer", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/Support", swiftSettings: strict),
        .executableTarget(
            name: "fuzz-http-parser", dependencies: ["FuzzSupport", "StatefunServer"],
            path: "Fuzz/http-parser", swiftSettings: strict),
        .executableTarget(
            name: "fuzz-http1-connection", dependencies: ["FuzzSupport", "StatefunServer"],
            path: "Fuzz/http1-connection", swiftSettings: strict),
        .executableTarget(
            name: "fuzz-http2", dependencies: ["FuzzSupport", "StatefunServer"],
            path: "Fuzz/http2", swiftSettings: strict),
        .executableTarget(
            name: "fuzz-tofunction-v2", dependencies: ["FuzzSupport", "StatefulFunctions", "Greeter", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/tofunction-v2", swiftSettings: strict),
        .executableTarget(
            name: "fuzz-tofunction-v3",
            dependencies: ["FuzzSupport", "StatefulFunctions", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/tofunction-v3", swiftSettings: strict),
    ]
}
