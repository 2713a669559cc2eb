import ChildProcess
import Foundation
import Glibc
import StatefunServer
import Testing

// Hostile HTTP/1.1 clients on real sockets: one test per behaviour; each checks
// the server answers correctly during the attack (where that makes sense) and after it.
// Server timeouts are configured short so the tests stay fast; no assertion is on timing.

/// A smuggling attempt: a request whose framing a lenient server could read two
/// ways, with a second request hidden where one reading puts the body.
struct SmugglingAttempt: Sendable, CustomTestStringConvertible {
    var name: String
    var text: String
    var testDescription: String { name }

    /// Hidden after the framing trick: a server that answers it has been desynchronized.
    static let smuggled = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"

    static let all: [SmugglingAttempt] = [
        .init(name: "CL.TE: Content-Length with Transfer-Encoding",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled),
        .init(name: "TE.CL: Transfer-Encoding with Content-Length",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled),
        .init(name: "two different Content-Lengths",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 31\r\n\r\n" + smuggled),
        .init(name: "obs-fold hiding Transfer-Encoding",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nX-A: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled),
        .init(name: "obs-fold continuing Transfer-Encoding",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled),
        .init(name: "bare LF line endings",
              text: "POST /echo HTTP/1.1\nHost: t\nContent-Length: 5\n\nhello" + smuggled),
        .init(name: "bare LF hiding a header",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nX-A: a\nContent-Length: 31\r\n\r\n" + smuggled),
        .init(name: "chunk size overflowing 64 bits to a small number",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" + smuggled),
        .init(name: "chunk size with a sign",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n" + smuggled),
        .init(name: "negative Content-Length",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -31\r\n\r\n" + smuggled),
        .init(name: "non-numeric Content-Length",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x1f\r\n\r\n" + smuggled),
        .init(name: "Content-Length with trailing garbage",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0 31\r\n\r\n" + smuggled),
        .init(name: "Transfer-Encoding that only contains chunked",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\nContent-Length: 0\r\n\r\n" + smuggled),
        .init(name: "Transfer-Encoding with whitespace before the colon",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled),
        .init(name: "chunked not last",
              text: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled),
    ]
}

@Suite("Hostile HTTP/1.1 clients", .serialized)
struct HostileHTTP1Tests {
    @Test("a request head trickled a byte at a time is cut off by the header timeout; others are served meanwhile")
    func trickledHead() async throws {
        try await withTestServer({ $0.headerTimeout = .milliseconds(400) }) { server in
            let port = server.port
            let outcome = try await offloaded { () -> (sent: Int, total: Int, response: RawResponse?, closed: Bool, servedMeanwhile: Bool) in
                let head = Array(("POST /echo HTTP/1.1\r\nHost: t\r\nX-Slow: " + String(repeating: "s", count: 200) + "\r\nContent-Length: 2\r\n\r\nok").utf8)
                let connection = try RawConnection(port: port)
                var sent = 0
                var servedMeanwhile = false
                for byte in head {
                    if (try? connection.send([byte])) == nil { break }
                    sent += 1
                    if sent == 5 {
                        // The server is not tied up by the slow client.
                        let other = try RawConnection(port: port)
                        try other.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                        servedMeanwhile = try other.readResponse()?.bodyString == "hello"
                    }
                    usleep(20_000)
                    var probe: UInt8 = 0
                    if recv(connection.fd, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0 { break }  // an answer, or EOF
                }
                let response = try connection.readResponse()
                return (sent, head.count, response, try connection.readsEOF(), servedMeanwhile)
            }
            #expect(outcome.sent < outcome.total, "the whole trickled request went through")
            #expect(outcome.response?.status == 408)
            #expect(outcome.response?.bodyString.contains("request head not received") == true)
            #expect(outcome.closed)
            #expect(outcome.servedMeanwhile)
            #expect(server.logs.rejections.contains { $0.metadata["status"] == "408" })
            try await expectServerHealthy(server)
        }
    }

    @Test("a request body that stalls is answered 408 and closed")
    func stalledBody() async throws {
        try await withTestServer({ $0.idleTimeout = .milliseconds(400) }) { server in
            let port = server.port
            let (response, closed) = try await offloaded { () -> (RawResponse?, Bool) in
                let connection = try RawConnection(port: port)
                try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
                let response = try connection.readResponse()
                return (response, try connection.readsEOF())
            }
            #expect(response?.status == 408)
            #expect(response?.bodyString.contains("request body stalled") == true)
            #expect(closed)
            #expect(server.logs.rejections.contains { $0.metadata["status"] == "408" })
            try await expectServerHealthy(server)
        }
    }

    @Test("10,000 idle connections: new and idle connections are still served")
    func tenThousandIdleConnections() async throws {
        // Both sides in subprocesses (the greeter, and Python): 10,000 descriptors in this
        // process would break Foundation's Process.run in tests running concurrently.
        let greeter = builtExecutable("greeter")
        guard FileManager.default.isExecutableFile(atPath: greeter) else {
            Issue.record("\(greeter) is not built (swift build --build-tests builds it)")
            return
        }
        let server = try await offloaded {
            try ServerProcess(greeter, ["--host", "127.0.0.1", "--port", "0", "--loops", "2"])
        }
        defer { server.stop() }
        let port = try await listeningPort(of: server)
        #expect(try await offloaded { try healthCheck(port: port) } == 200)
        let result = try await python(idleConnectionsScript, ["\(port)", "10000"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutString == "opened 10000\nfresh ok\nidle ok\n", "\(result.stderr)")
        #expect(server.isRunning)
        #expect(try await offloaded { try healthCheck(port: port) } == 200)
    }

    @Test("a connection flood beyond the descriptor limit: accept errors neither spin nor stop the server")
    func descriptorLimitFlood() async throws {
        let greeter = builtExecutable("greeter")
        guard FileManager.default.isExecutableFile(atPath: greeter) else {
            Issue.record("\(greeter) is not built (swift build --build-tests builds it)")
            return
        }
        // Under strace, which records every accept4 that fails for lack of descriptors: a
        // paused listener makes at most one every 100 ms, a spinning one thousands a second.
        let trace = try TemporaryFile()
        defer { trace.remove() }
        let server = try await offloaded {
            try ServerProcess("/usr/bin/prlimit", [
                "--nofile=64", "/usr/bin/strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=accept4", "-e", "signal=none", "-o", trace.path,
                greeter, "--host", "127.0.0.1", "--port", "0", "--loops", "1",
            ])
        }
        let started = ContinuousClock.now
        defer { server.stop() }
        let port = try await listeningPort(of: server)
        #expect(try await offloaded { try healthCheck(port: port) } == 200)

        let servedDuring = try await offloaded { () -> Bool in
            var flood: [RawConnection] = []
            for _ in 0..<300 { flood.append(try RawConnection(port: port)) }
            // A connection the server accepted before running out of descriptors is still served.
            try flood[0].send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            let servedDuring = try flood[0].readResponse()?.status == 200
            // Meanwhile the backlog holds connections the server cannot accept.
            usleep(2_000_000)
            flood.removeAll()  // closes them all
            return servedDuring
        }
        #expect(servedDuring)
        #expect(server.isRunning, "the server exited")
        try await waitUntil("the greeter to serve again") { (try? healthCheck(port: port)) == 200 }
        let log = server.stderr()
        #expect(log.contains("accept failed; pausing the listener"), "\(log)")
        server.stop()
        let elapsed = ContinuousClock.now - started
        // However slow the machine, pauses of 100 ms bound the failed accepts by the time elapsed.
        let failures = String(decoding: try trace.read(), as: UTF8.self).split(separator: "\n").filter { $0.contains("EMFILE") }.count
        let bound = Int(elapsed / .milliseconds(100)) + 5
        #expect(failures > 0, "strace saw no failed accept")
        #expect(failures <= bound, "\(failures) failed accepts in \(elapsed): the listener spins")
    }

    @Test("a flood of pipelined requests is answered in order, each correctly")
    func pipelinedFlood() async throws {
        try await withTestServer { server in
            let port = server.port
            let count = 5000
            let (answered, wrong) = try await offloaded { () -> (Int, Int) in
                let connection = UncheckedSendable(try RawConnection(port: port))
                let writer = Thread {
                    var batch: [UInt8] = []
                    for i in 0..<count {
                        let body = "request \(i)"
                        batch += Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
                        if batch.count > 64 * 1024 || i == count - 1 {
                            try? connection.value.send(batch)
                            batch = []
                        }
                    }
                }
                writer.start()
                var answered = 0
                var wrong = 0
                for i in 0..<count {
                    guard let response = try connection.value.readResponse() else { break }
                    answered += 1
                    if response.status != 200 || response.bodyString != "request \(i)" { wrong += 1 }
                }
                return (answered, wrong)
            }
            #expect(answered == count)
            #expect(wrong == 0)
            try await expectServerHealthy(server)
        }
    }

    @Test("a request smuggling attempt gets one error response and a closed connection; the hidden request is never served",
          arguments: SmugglingAttempt.all)
    func smuggling(_ attempt: SmugglingAttempt) async throws {
        try await withTestServer { server in
            let port = server.port
            let (responses, closed) = try await offloaded { () -> ([RawResponse], Bool) in
                let connection = try RawConnection(port: port)
                try connection.send(attempt.text)
                var responses: [RawResponse] = []
                while let response = try connection.readResponse() {
                    responses.append(response)
                    if responses.count > 2 { break }
                }
                return (responses, true)
            }
            #expect(responses.count == 1, "\(responses)")
            let status = responses.first?.status ?? 0
            #expect((400..<600).contains(status), "\(responses)")
            #expect(!responses.contains { $0.bodyString == "hello" }, "the smuggled request was served")
            #expect(closed)
            #expect(server.logs.rejections.count == 1)
            try await expectServerHealthy(server)
        }
    }

    @Test("an oversized request line and an oversized header section are answered 431")
    func oversizedHeads() async throws {
        try await withTestServer { server in
            let longLine = "GET /" + String(repeating: "x", count: 20_000) + " HTTP/1.1\r\nHost: t\r\n\r\n"
            let manyHeaders = "GET /hello HTTP/1.1\r\nHost: t\r\n"
                + (0..<2000).map { "X-H\($0): v\r\n" }.joined() + "\r\n"
            for request in [longLine, manyHeaders] {
                let (response, closed) = try await rawExchange(port: server.port, Array(request.utf8))
                #expect(response?.status == 431)
                #expect(response?.bodyString.contains("request head exceeds the limit of 16384 bytes") == true)
                #expect(closed)
            }
            #expect(server.logs.rejections.filter { $0.metadata["status"] == "431" }.count == 2)
            try await expectServerHealthy(server)
        }
    }
}

// MARK: - Support

/// Opens N connections, keeps them open idle, then checks a fresh connection and some idle ones are served (GET /healthz).
let idleConnectionsScript = #"""
import resource, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def exchange(sock):
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("connection closed")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head.split(b" ")[1] == b"200" and rest == b"ok\n"

idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
print("opened", len(idle))
fresh = socket.create_connection(("127.0.0.1", port), timeout=30)
print("fresh ok" if exchange(fresh) else "fresh WRONG")
print("idle ok" if all(exchange(idle[i]) for i in (0, count // 2, count - 1)) else "idle WRONG")
"""#

/// The path of an executable product of this package, built next to the test bundle.
func builtExecutable(_ name: String) -> String {
    let arguments = CommandLine.arguments
    var directory = URL(fileURLWithPath: arguments.first ?? "")
    // .build/<triple>/debug/swift-statefunPackageTests.xctest (or the swiftpm-testing-helper): find the debug dir.
    for _ in 0..<4 {
        directory.deleteLastPathComponent()
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return repositoryRoot.appendingPathComponent(".build/debug/\(name)").path
}

/// Waits for a server process's start-up line and returns the TCP port it names (the process
/// was given port 0: nothing to reserve, no race with other tests' servers).
func listeningPort(of server: ServerProcess) async throws -> Int {
    var port: Int?
    try await waitUntil("the server's start-up line") {
        let line = server.stderr().split(separator: "\n").first { $0.contains("HTTP server listening") }
        if let line, let range = line.range(of: "addresses=127.0.0.1:") {
            port = Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return port != nil || !server.isRunning
    }
    guard let port else { throw TestFailure("the server exited before listening: \(server.stderr())") }
    return port
}

/// `GET /healthz` on a fresh connection: the status.
func healthCheck(port: Int) throws -> Int? {
    let connection = try RawConnection(port: port)
    try connection.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return try connection.readResponse()?.status
}

/// A server run as a subprocess (stderr to a file), killed when stopped.
final class ServerProcess: @unchecked Sendable {
    let process: ChildProcess
    let log: TemporaryFile

    init(_ executable: String, _ arguments: [String]) throws {
        log = try TemporaryFile()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log.path))
        defer { try? handle.close() }
        process = try ChildProcess(executable, arguments, stderr: .descriptor(handle.fileDescriptor))
    }

    var pid: Int32 { process.pid }
    var isRunning: Bool { process.isRunning }
    func stderr() -> String { String(decoding: (try? log.read()) ?? [], as: UTF8.self) }

    /// Kills the process and its children (a program run under strace: strace, then the program).
    func stop() {
        if process.isRunning {
            for child in Self.children(of: process.pid) { Glibc.kill(child, SIGKILL) }
            process.kill(SIGKILL)
            process.waitUntilExit()
        }
        log.remove()
    }

    private static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0) }
        }
    }
}
