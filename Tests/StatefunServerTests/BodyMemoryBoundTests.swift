import Foundation
import Glibc
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

    @Test("a body that cannot get memory is not read, then shed with 503 and Retry-After; memory comes back")
    func shedWith503() async throws {
        try await withProductionServer({
            $0.eventLoopCount = 1
            $0.maxBodyMemory = 1 << 20
            $0.bodyMemoryWait = .milliseconds(300)
        }) { server in
            try await offloaded {
                let length = 900_000
                // Holds 800,000 bytes (all but 64 KiB of them charged) and stalls.
                let holder = try RawConnection(port: server.port)
                try holder.send("POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: \(length)\r\n\r\n")
                try holder.send([UInt8](repeating: 1, count: 800_000))
                // Needs more than is left.
                let waiter = try RawConnection(port: server.port)
                try waiter.send("POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: \(length)\r\n\r\n")
                try waiter.send([UInt8](repeating: 2, count: length))
                let shed = try #require(try waiter.readResponse())
                #expect(shed.status == 503)
                #expect(shed[header: "Retry-After"] == "1")
                #expect(shed.bodyString.contains("memory"), "\(shed.bodyString)")
                // The holder, stalled while others waited, is shed too.
                #expect(try holder.readResponse()?.status == 503)
                // All of it was released: the same request now goes through.
                let again = try RawConnection(port: server.port)
                try again.send("POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: \(length)\r\n\r\n")
                try again.send([UInt8](repeating: 2, count: length))
                let response = try #require(try again.readResponse())
                #expect(response.status == 200)
                #expect(response.bodyString == "\(length) \(length * 2)")
            }
            try await expectServerHealthy(server)
        }
    }
}
