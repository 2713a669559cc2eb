import Foundation
import GreeterV3
import StatefulFunctions
import StatefunServer
import StatefunService
import Testing
import Verification

/// The venv with the official SDK 3.3.0 (scripts/install-deps.sh makes it).
let pythonV3 = ProcessInfo.processInfo.environment["STATEFUN_PYTHON_V3"]
    ?? repositoryRoot.appendingPathComponent(".venv-v3/bin/python").path

/// The 3.x greeter and the verification functions.
func startV3Service() throws -> HTTPServer {
    try startService(protocol: .v3) { functions in
        try GreeterV3.register(in: functions)
        try Verification.register(in: functions)
    }
}

@Suite struct ServiceV3Tests {
    @Test func conformsToTheOfficialPythonSDK3() async throws {
        let server = try startV3Service()
        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/conformance_v3.py").path
        let (status, output) = try await run(pythonV3, [script, "http://127.0.0.1:\(server.localPort)/statefun"])
        server.shutdown()
        await server.waitUntilStopped()
        #expect(status == 0, "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        #expect(!output.contains("v3: 0 passed"), "\(output)")
    }

    /// The 3.3 runtime opens up to 1024 connections per function type at once.
    @Test func acceptsAThousandConnectionsAtOnce() async throws {
        let server = try startV3Service()
        // In the temporary directory: `.build` need not exist (a sanitizer build uses `.build-asan`).
        let body = NSTemporaryDirectory() + "greeter-v3-request-" + UUID().uuidString + ".bin"
        defer { try? FileManager.default.removeItem(atPath: body) }
        // One greeter request, built with the official protocol classes.
        let (built, buildOutput) = try await run(pythonV3, [
            "-c",
            """
            import sys
            from statefun.request_reply_pb2 import ToFunction
            from statefun.types_pb2 import IntWrapper, StringWrapper
            f = ToFunction(); b = f.invocation
            b.target.namespace, b.target.type, b.target.id = "example", "greeter", "load"
            s = b.state.add(); s.state_name = "seen"; s.state_value.typename = "io.statefun.types/int"
            a = b.invocations.add().argument
            a.typename = "io.statefun.types/string"; a.has_value = True; a.value = StringWrapper(value="load").SerializeToString()
            open(sys.argv[1], "wb").write(f.SerializeToString())
            """,
            body,
        ])
        #expect(built == 0, "\(buildOutput)")
        let (status, output) = try await run("/usr/bin/h2load", [
            "--h1", "-n", "4096", "-c", "1024", "-d", body,
            "-H", "Content-Type: application/octet-stream",
            "http://127.0.0.1:\(server.localPort)/statefun",
        ])
        server.shutdown()
        await server.waitUntilStopped()
        #expect(status == 0, "\(output)")
        #expect(output.contains("4096 succeeded, 0 failed, 0 errored, 0 timeout"), "\(output)")
        #expect(output.contains("status codes: 4096 2xx"), "\(output)")
    }
}
