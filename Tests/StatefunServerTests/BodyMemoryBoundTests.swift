import Foundation
import Glibc
import StatefunServer
import Testing

/// The server-wide bound on request-body memory, in-process (the RSS under
/// attack is measured on a child process: StatefunServiceTests/BodyMemoryTests).
@Suite("Request-body memory bound", .serialized)
struct BodyMemoryBoundTests {
    @Test("a body declared larger than the whole bound is answered 413 (HTTP/1.1 and HTTP/2)")
    func neverFits() async throws {
        try await withProductionServer({ $0.maxBodyMemory = 1 << 20 }) { server in
            let (response, closed) = try await rawExchange(
                port: server.port, Array("POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n".utf8))
            #expect(response?.status == 413)
            #expect(response?.bodyString.contains("body memory of 1048576 bytes") == true, "\(String(describing: response))")
            #expect(closed)
            let result = try await python(rawHTTP2Prelude + """
                client = Client(int(sys.argv[1]))
                client.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/digest"), (":authority", "t"),
                                   ("content-length", "2000000")], end_stream=False)
                client.read_until(lambda c: 1 in c.ended)
                print("\\n".join(client.events))
                """, ["\(server.port)"])
            #expect(result.stdoutString.contains("RESPONSE 1 413"), "\(result.stdoutString) \(result.stderr)")
            try await expectServerHealthy(server)
        }
    }

    /// One loop, 1 MiB of body memory, and bodies shed after 300 ms without memory or progress.
    static func smallBudget(_ configuration: inout HTTPServerConfiguration) {
        configuration.eventLoopCount = 1
        configuration.maxBodyMemory = 1 << 20
        configuration.bodyMemoryWait = .milliseconds(300)
    }

    /// A POST of a body of `length` bytes to /digest, head only (the body follows).
    static func digestHead(_ length: Int) -> String {
        "POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: \(length)\r\n\r\n"
    }

    @Test("a body stalled holding memory while another waits is shed with 503 and Retry-After; memory comes back")
    func stalledHolderIsShed() async throws {
        try await withProductionServer(Self.smallBudget) { server in
            try await offloaded {
                let length = 900_000
                // Holds 800,000 bytes (all but 64 KiB of them charged) and stalls.
                let holder = try RawConnection(port: server.port)
                try holder.send(Self.digestHead(length))
                try holder.send([UInt8](repeating: 1, count: 800_000))
                // Needs more than is left: it waits, and the holder, stalled since before
                // it began to wait, is shed no later than it would be.
                let waiter = try RawConnection(port: server.port)
                try waiter.send(Self.digestHead(length))
                try waiter.send([UInt8](repeating: 2, count: length))
                let shed = try #require(try holder.readResponse())
                #expect(shed.status == 503)
                #expect(shed[header: "Retry-After"] == "1")
                // (Its last bytes may themselves still wait for memory the waiter took first.)
                #expect(shed.bodyString.contains("memory"), "\(shed.bodyString)")
                // The waiter is answered either way: served once the holder's memory came
                // back, or shed itself if its own wait ended in the same sweep.
                let waited = try #require(try waiter.readResponse())
                #expect(waited.status == 200 || (waited.status == 503 && waited.bodyString.contains("waited for memory")),
                        "\(waited.status) \(waited.bodyString)")
                // All of it was released: the same request now goes through.
                let again = try RawConnection(port: server.port)
                try again.send(Self.digestHead(length))
                try again.send([UInt8](repeating: 2, count: length))
                let response = try #require(try again.readResponse())
                #expect(response.status == 200)
                #expect(response.bodyString == "\(length) \(length * 2)")
            }
            try await expectServerHealthy(server)
        }
    }

    @Test("a body that waits for memory longer than bodyMemoryWait is shed with 503 and Retry-After")
    func waiterIsShed() async throws {
        try await withProductionServer(Self.smallBudget) { server in
            // A handler holds a body of 900,000 bytes (not stalled: it cannot be shed).
            let holder = RawConnectionBox(try RawConnection(port: server.port))
            try holder.connection.send("POST /hang HTTP/1.1\r\nHost: t\r\nContent-Length: 900000\r\n\r\n")
            try holder.connection.send([UInt8](repeating: 1, count: 900_000))
            try await server.hooks.handlerStarted.opened()
            try await offloaded {
                let waiter = try RawConnection(port: server.port)
                try waiter.send(Self.digestHead(900_000))
                try waiter.send([UInt8](repeating: 2, count: 900_000))
                let shed = try #require(try waiter.readResponse())
                #expect(shed.status == 503)
                #expect(shed[header: "Retry-After"] == "1")
                #expect(shed.bodyString.contains("waited for memory"), "\(shed.bodyString)")
            }
            server.hooks.releaseHang.open()
            let released = try await offloaded { try holder.connection.readResponse() }
            #expect(released?.status == 200)
            // Its memory came back with the answer.
            try await offloaded {
                let again = try RawConnection(port: server.port)
                try again.send(Self.digestHead(900_000))
                try again.send([UInt8](repeating: 2, count: 900_000))
                #expect(try again.readResponse()?.status == 200)
            }
            try await expectServerHealthy(server)
        }
    }
}
