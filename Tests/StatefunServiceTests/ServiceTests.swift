import ChildProcess
import Foundation
import StatefunLocks
import Greeter
import Logging
import StatefulFunctions
import StatefunServer
import StatefunService
import Testing

/// The repository root, to find the Python scripts and the venv.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The venv's Python, which has the official SDK (scripts/install-deps.sh makes it).
let python = ProcessInfo.processInfo.environment["STATEFUN_PYTHON"]
    ?? repositoryRoot.appendingPathComponent(".venv/bin/python").path

/// Runs a program to completion and returns its exit status and combined output.
///
/// The waiting happens on a thread of its own: blocking the (two-thread) Swift
/// task pool would starve the server's handlers that the program is talking to.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String) {
    try await withThreadHandoff { deliver in
        Thread { deliver(Result { try runBlocking(executable, arguments, environment: environment) }) }.start()
    }
}

private func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> (Int32, String) {
    let output = Pipe()
    let writer = output.fileHandleForWriting.fileDescriptor
    let process = try ChildProcess(
        executable, arguments, environment: environment, stdout: .descriptor(writer), stderr: .descriptor(writer))
    try output.fileHandleForWriting.close()  // the child's copy stays open until it exits
    let data = output.fileHandleForReading.readDataToEndOfFile()
    return (process.waitUntilExit(), String(decoding: data, as: UTF8.self))
}

/// Functions served on an ephemeral loopback port.
func startService(
    protocol version: ProtocolVersion, _ register: (StatefulFunctions) throws -> Void
) throws -> HTTPServer {
    let functions = StatefulFunctions()
    try register(functions)
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.eventLoopCount = 2
    let service = StatefunService(functions: functions, protocol: version, configuration: configuration)
    try service.server.start()
    return service.server
}

/// The greeter and showcase (2.x).
func startGreeterService() throws -> HTTPServer {
    try startService(protocol: .v2) { functions in
        try Greeter.register(in: functions)
        try Showcase.register(in: functions)
    }
}

@Suite struct ServiceTests {
    @Test("functions run on the event loops under StatefunService, even with a configuration that does not say; a plain HTTPServer's handlers on the pool; an explicit choice stays")
    func defaultScheduling() {
        let functions = StatefulFunctions()
        let service = StatefunService(functions: functions, configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0))
        #expect(service.server.configuration.handlerExecution == .eventLoop)
        #expect(StatefunService(functions: functions).server.configuration.handlerExecution == .eventLoop)
        let blocking = StatefunService(
            functions: functions, configuration: HTTPServerConfiguration(port: 0, handlerExecution: .workerThreads(2)))
        #expect(blocking.server.configuration.handlerExecution == .workerThreads(2))
        let plain = HTTPServer(configuration: HTTPServerConfiguration(port: 0), routes: [])
        #expect(plain.configuration.handlerExecution == .cooperativePool)
    }

    @Test func conformsToTheOfficialPythonSDK() async throws {
        let server = try startGreeterService()
        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/conformance.py").path
        let (status, output) = try await run(python, [script, "http://127.0.0.1:\(server.localPort)/statefun"])
        server.shutdown()
        await server.waitUntilStopped()
        #expect(status == 0, "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        #expect(!output.contains("conformance: 0 passed"), "\(output)")
    }

    @Test func theDemoClientSeesCountsRise() async throws {
        let server = try startGreeterService()
        let client = repositoryRoot.appendingPathComponent("Examples/Greeter/Python/demo_client.py").path
        let (status, output) = try await run(
            python, [client, "http://127.0.0.1:\(server.localPort)/statefun"],
            environment: ["PYTHONPATH": repositoryRoot.appendingPathComponent("Examples/Greeter/Python").path])
        server.shutdown()
        await server.waitUntilStopped()
        #expect(status == 0, "\(output)")
        let alice = output.split(separator: "\n").filter { $0.contains("alice") }.map { $0.split(separator: ">").last! }
        #expect(alice == [" Hello alice", " Hello again!", " Third time's the charm"])
        let bob = output.split(separator: "\n").filter { $0.contains(" bob ") }.map { $0.split(separator: ">").last! }
        #expect(bob == [" Hello bob", " Hello again!", " Third time's the charm", " Hello for the 4th time",
                        " Hello for the 5th time", " Hello for the 6th time"])
    }

    @Test func errorsOverHTTPCarryTheirStatusAndTheServerKeepsServing() async throws {
        let server = try startGreeterService()
        let url = "http://127.0.0.1:\(server.localPort)/statefun"
        func curl(_ arguments: [String]) async throws -> String {
            try await run("/usr/bin/curl", ["-s", "-o", "/dev/stderr", "-w", "\n%{http_code} %{content_type}"] + arguments).1
        }
        let garbage = try await curl(["--data-binary", "not a protobuf", "-H", "Content-Type: application/octet-stream", url])
        #expect(garbage.hasPrefix("bad request: the body is not a serialized ToFunction"))
        #expect(garbage.hasSuffix("\n400 text/plain; charset=utf-8"))
        #expect(try await curl(["-X", "GET", url]).hasSuffix("\n405 text/plain; charset=utf-8"))
        #expect(try await curl(["--data-binary", "x", "http://127.0.0.1:\(server.localPort)/elsewhere"]).contains("\n404 "))

        // Still serving: the conformance corpus's first case over a fresh connection.
        let client = repositoryRoot.appendingPathComponent("Examples/Greeter/Python/demo_client.py").path
        let (status, output) = try await run(
            python, [client, url],
            environment: ["PYTHONPATH": repositoryRoot.appendingPathComponent("Examples/Greeter/Python").path])
        #expect(status == 0, "\(output)")
        server.shutdown()
        await server.waitUntilStopped()
    }
}
