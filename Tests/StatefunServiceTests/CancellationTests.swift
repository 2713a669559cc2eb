import Foundation
import StatefunServer
import StatefunService
import Synchronization
import Testing

/// A request's task is cancelled when its client goes away or its time runs
/// out, and the function sees it (`Task.isCancelled`, `Task.checkCancellation()`).
@Suite("Cancellation reaches the function", .serialized)
struct CancellationTests {
    /// What the waiting function saw.
    final class Observed: Sendable {
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
    }

    /// `example/waiter` waits until its task is cancelled (never returning
    /// otherwise), notes it, and stops; `example/echo` answers at once.
    func startServer(
        _ execution: HandlerExecution, requestTimeout: Duration? = nil
    ) throws -> (HTTPServer, Observed) {
        let observed = Observed()
        let functions = StatefulFunctions()
        try functions.bind("example/waiter", String.self) { context, _ in
            observed.started.add(1, ordering: .sequentiallyConsistent)
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            observed.cancelled.add(1, ordering: .sequentiallyConsistent)
            try Task.checkCancellation()
        }
        try functions.bind("example/careful", String.self) { context, text in
            try await Task.sleep(for: .milliseconds(20))  // throws CancellationError if cancelled
            context.sendEgress(try EgressMessage("example/out", value: text))
        }
        try functions.bind("example/echo", String.self) { context, text in
            await Task.yield()
            context.sendEgress(try EgressMessage("example/out", value: text))
        }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 1, handlerExecution: execution)
        configuration.requestTimeout = requestTimeout
        let service = StatefunService(functions: functions, protocol: .v3, configuration: configuration)
        try service.server.start()
        return (service.server, observed)
    }

    /// A 3.x request to `type`/x with one string, built with the official SDK's classes, in a file.
    func requestBody(to type: String) async throws -> String {
        let path = NSTemporaryDirectory() + "cancellation-request-" + UUID().uuidString + ".bin"
        let (status, output) = try await run(pythonV3, [
            "-c",
            """
            import sys
            from statefun.request_reply_pb2 import ToFunction
            from statefun.types_pb2 import StringWrapper
            f = ToFunction(); b = f.invocation
            b.target.namespace, b.target.type, b.target.id = "example", sys.argv[2], "x"
            a = b.invocations.add().argument
            a.typename = "io.statefun.types/string"; a.has_value = True; a.value = StringWrapper(value="hi").SerializeToString()
            open(sys.argv[1], "wb").write(f.SerializeToString())
            """,
            path, type,
        ])
        #expect(status == 0, "\(output)")
        return path
    }

    func curl(_ server: HTTPServer, _ body: String, _ options: [String]) async throws -> (Int32, String) {
        try await run("/usr/bin/curl", options + [
            "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + body,
            "-H", "Content-Type: application/octet-stream", "http://127.0.0.1:\(server.localPort)/statefun",
        ])
    }

    static let clients: [(String, HandlerExecution, [String])] = [
        ("HTTP/1.1, handlers on the loop", .eventLoop, []),
        ("HTTP/1.1, handlers on the pool", .cooperativePool, []),
        ("h2c, handlers on the loop", .eventLoop, ["--http2-prior-knowledge"]),
        ("h2c, handlers on worker threads", .workerThreads(2), ["--http2-prior-knowledge"]),
    ]

    @Test("a client that gives up and closes cancels the function", arguments: 0..<clients.count)
    func clientDisconnectCancels(_ index: Int) async throws {
        let (name, execution, options) = Self.clients[index]
        let (server, observed) = try startServer(execution)
        let waiter = try await requestBody(to: "waiter")
        let echo = try await requestBody(to: "echo")
        defer { for file in [waiter, echo] { try? FileManager.default.removeItem(atPath: file) } }
        // curl waits a second for an answer that never comes, then closes the connection.
        let (status, output) = try await curl(server, waiter, options + ["--max-time", "1"])
        #expect(status == 28, "\(name): curl \(status) \(output)")
        try await eventually("\(name): the function sees its task cancelled") {
            observed.cancelled.load(ordering: .sequentiallyConsistent) == 1
        }
        #expect(observed.started.load(ordering: .sequentiallyConsistent) == 1)
        // And the server goes on serving.
        let (echoStatus, code) = try await curl(server, echo, options)
        #expect(echoStatus == 0 && code == "200", "\(name): \(echoStatus) \(code)")
        server.shutdown()
        await server.waitUntilStopped()
    }

    /// Requests sent before the client's FIN are still wanted: a pipelining
    /// client that half-closes gets every answer, none of them cancelled.
    @Test("a pipelining client that half-closes gets every answer", arguments: [HandlerExecution.eventLoop, .cooperativePool])
    func pipeliningHalfCloseIsNotCancelled(_ execution: HandlerExecution) async throws {
        let (server, _) = try startServer(execution)
        let careful = try await requestBody(to: "careful")
        defer { try? FileManager.default.removeItem(atPath: careful) }
        let (status, output) = try await run(python, [
            "-c",
            """
            import socket, sys
            body = open(sys.argv[2], "rb").read()
            head = "POST /statefun HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/octet-stream\\r\\n"
            request = (head + "Content-Length: %d\\r\\n\\r\\n" % len(body)).encode() + body
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(request * 3)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            print(data.count(b"HTTP/1.1 200 "), data.count(b"HTTP/1.1 503 "))
            """,
            "\(server.localPort)", careful,
        ])
        #expect(status == 0, "\(output)")
        #expect(output == "3 0\n", "\(output)")
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("the request timeout cancels the function, which answers 503", arguments: [false, true])
    func requestTimeoutCancels(_ h2c: Bool) async throws {
        let (server, observed) = try startServer(.eventLoop, requestTimeout: .milliseconds(200))
        let waiter = try await requestBody(to: "waiter")
        defer { try? FileManager.default.removeItem(atPath: waiter) }
        let (status, output) = try await run("/usr/bin/curl", (h2c ? ["--http2-prior-knowledge"] : []) + [
            "-sS", "--max-time", "60", "-w", "\n%{http_code}", "--data-binary", "@" + waiter,
            "-H", "Content-Type: application/octet-stream", "http://127.0.0.1:\(server.localPort)/statefun",
        ])
        #expect(status == 0, "\(output)")
        #expect(output.hasPrefix("request cancelled (the client went away or the request timed out): function example/waiter"), "\(output)")
        #expect(output.hasSuffix("\n503"), "\(output)")
        #expect(observed.cancelled.load(ordering: .sequentiallyConsistent) == 1)
        server.shutdown()
        await server.waitUntilStopped()
    }
}
