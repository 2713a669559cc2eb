import ChildProcess
import Foundation
import StatefunLocks
import Testing

/// A Python reference endpoint (the official SDK's handler) in a child process.
final class PythonEndpoint: @unchecked Sendable {
    private let process: ChildProcess

    /// Starts `serve.py VERSION WHERE` with the venv of that SDK and waits for it to listen.
    init(_ version: String, _ where_: String) async throws {
        let venv = version == "v2" ? ".venv" : ".venv-v3"
        let output = Pipe()
        process = try ChildProcess(
            repositoryRoot.appendingPathComponent("\(venv)/bin/python").path,
            [repositoryRoot.appendingPathComponent("Tests/StatefunLocalTests/Python/serve.py").path, version, where_],
            stdout: .descriptor(output.fileHandleForWriting.fileDescriptor))
        try output.fileHandleForWriting.close()
        let handle = output.fileHandleForReading
        let ready: Bool = try await withThreadHandoff { deliver in
            Thread { deliver(.success(String(decoding: handle.availableData, as: UTF8.self).hasPrefix("ready"))) }.start()
        }
        guard ready else { throw TestFailure("the Python endpoint did not start") }
    }

    deinit { stop() }

    /// Kills the endpoint.
    func stop() {
        if process.isRunning {
            process.kill(SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

@Suite struct PythonEndpointTests {
    @Test func drivesTheOfficialPythonSDK3OverAUnixSocket() async throws {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("statefun-\(UUID().uuidString.prefix(8)).sock").path
        let endpoint = try await PythonEndpoint("v3", "unix:\(socket)")
        defer { endpoint.stop() }
        let module = try moduleFile(v3Module("http+unix://\(socket)/statefun"))
        let result = try await run(statefunLocal, ["--module", module], input: names(Array(repeating: "ann", count: 10) + ["bob"]))
        #expect(result.status == 0, "\(result.stderr)")
        let values = result.egress.filter { $0.contains(#""egress":"example/out""#) }
            .compactMap { $0.components(separatedBy: "\"value\":\"").last?.dropLast(2) }
        #expect(values.filter { $0.hasPrefix("ann:") } == (1...10).map { "ann:\($0)"[...] })
        #expect(values.contains("bob:1"))
        // The Python auditor got the tenth greeting, with the state it asked the runtime to register.
        #expect(result.egress.contains(#"{"egress":"example/audit-out","type":"io.statefun.types/string","value":"ann:1"}"#))
    }

    @Test func drivesTheOfficialPythonSDK2() async throws {
        let port = try freePort()
        let endpoint = try await PythonEndpoint("v2", "\(port)")
        defer { endpoint.stop() }
        let module = try moduleFile("""
            version: "2.0"
            module:
              meta:
                type: remote
              spec:
                functions:
                  - function:
                      meta:
                        kind: http
                        type: example/greeter
                      spec:
                        endpoint: http://127.0.0.1:\(port)/statefun
                        states:
                          - name: seen_count
                        maxNumBatchRequests: 500
            """)
        let input = ["ann", "ann", "bob", "ann"].map {
            #"{"target": "example/greeter/\#($0)", "type": "type.googleapis.com/example.GreetRequest", "fields": {"1": "\#($0)"}}"#
        }
        let result = try await run(statefunLocal, ["--module", module], input: input.joined(separator: "\n"))
        #expect(result.status == 0, "\(result.stderr)")
        let greetings = result.egress.compactMap { $0.components(separatedBy: #""2":""#).last?.split(separator: "\"").first }
        #expect(greetings.count == 4, "\(result.stdout)")
        #expect(greetings.filter { $0 != "Hello bob" } == ["Hello ann", "Hello again!", "Third time's the charm"])
    }
}
