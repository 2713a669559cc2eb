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
