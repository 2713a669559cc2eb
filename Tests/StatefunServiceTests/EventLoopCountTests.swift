import ChildProcess
import Foundation
import Glibc
import StatefunServer
import Testing

/// `--loops 0` starts one event loop per CPU the process may use, and the
/// start-up line says how many and where the count came from.
@Suite("--loops 0 counts the CPUs the process may use", .serialized)
struct EventLoopCountTests {
    func startupLine(_ arguments: [String]) async throws -> String {
        let greeter = exampleExecutable("greeter")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let command = arguments + [greeter, "--host", "127.0.0.1", "--port", "0", "--loops", "0"]
        let server = try await BackgroundProcess.start(command[0], Array(command.dropFirst()), environment: ["LOG_LEVEL": "info"])
        defer { server.remove() }
        try await eventually("the start-up line") { server.output.contains("HTTP server listening") }
        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0)
        return String(try #require(server.output.split(separator: "\n").first { $0.contains("HTTP server listening") }))
    }

    @Test("under taskset -c 0, one loop")
    func oneCPUUnderTaskset() async throws {
        let line = try await startupLine(["/usr/bin/taskset", "-c", "0"])
        #expect(line.contains("eventLoops=1 "), "\(line)")
        #expect(line.contains("eventLoopCount=CPUs the process may use (sched_getaffinity: 1 of "), "\(line)")
    }

    @Test("unconstrained, as many loops as this process may use CPUs")
    func everyCPUThisProcessMayUse() async throws {
        let line = try await startupLine(["/usr/bin/env"])
        #expect(line.contains("eventLoops=\(ProcessorCount.available().count) "), "\(line)")
    }
}

/// `--request-timeout` and `STATEFUN_REQUEST_TIMEOUT` reach the server (its start-up line says so).
@Suite("The request timeout of an example", .serialized)
struct RequestTimeoutOptionTests {
    func startupLine(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let greeter = exampleExecutable("greeter-v3")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let server = try await BackgroundProcess.start(
            greeter, ["--host", "127.0.0.1", "--port", "0", "--workers", "0"] + arguments,
            environment: environment.merging(["LOG_LEVEL": "info"]) { $1 })
        defer { server.remove() }
        try await eventually("the start-up line") { server.output.contains("HTTP server listening") }
        kill(server.pid, SIGTERM)
        #expect(await server.wait() == 0)
        return String(try #require(server.output.split(separator: "\n").first { $0.contains("HTTP server listening") }))
    }

    @Test func theFlagAndTheVariableSetIt() async throws {
        #expect(try await startupLine(["--request-timeout", "2.5"]).contains(" requestTimeout=2.5 seconds "))
        #expect(try await startupLine([], environment: ["STATEFUN_REQUEST_TIMEOUT": "7"]).contains(" requestTimeout=7.0 seconds "))
        #expect(!(try await startupLine([])).contains("requestTimeout="))
    }
}
