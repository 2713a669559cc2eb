import ChildProcess
import Foundation
import StatefunLocks
import Testing

/// A Python reference endpoint (the official SDK's handler) in a child process.
final class PythonEndpoint: @unchecked Sendable {
    private let process: ChildProcess
    /// The TCP port it listens on (given as 0, the one it bound), or 0 on a Unix socket.
    let port: Int

    /// Starts `serve.py VERSION WHERE` with the venv of that SDK and waits for it to listen
    /// (its `ready` line, which names the port it bound).
    init(_ version: String, _ where_: String) async throws {
        let venv = version == "v2" ? ".venv" : ".venv-v3"
        let output = Pipe()
        process = try ChildProcess(
            repositoryRoot.appendingPathComponent("\(venv)/bin/python").path,
            [repositoryRoot.appendingPathComponent("Tests/StatefunLocalTests/Python/serve.py").path, version, where_],
            stdout: .descriptor(output.fileHandleForWriting.fileDescriptor))
        try output.fileHandleForWriting.close()
        let handle = output.fileHandleForReading
        let line: String = try await withThreadHandoff { deliver in
            Thread {
                // Up to the end of the first line (or EOF: the endpoint died).
                var bytes: [UInt8] = []
                while !bytes.contains(10) {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    bytes += chunk
                }
                deliver(.success(String(decoding: bytes, as: UTF8.self)))
            }.start()
        }
        guard line.hasPrefix("ready ") else {
            process.kill(SIGKILL)
            process.waitUntilExit()
            throw TestFailure("the Python endpoint did not start: \(line)")
        }
        port = Int(line.dropFirst(6).prefix { $0.isNumber }) ?? 0
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

/// A TCP port on 127.0.0.1 that refuses connections for as long as this value lives:
/// bound, never listening, so no other test's server can take it meanwhile.
final class ClosedPort: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else {
            close(fd)
            throw TestFailure("bind: errno \(errno)")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
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
        let endpoint = try await PythonEndpoint("v2", "0")
        defer { endpoint.stop() }
        let port = endpoint.port
        try #require(port > 0)
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
            \(v2TestEgresses)
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
