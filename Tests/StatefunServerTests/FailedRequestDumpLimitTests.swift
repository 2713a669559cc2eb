import Foundation
import StatefunServer
import Testing

/// The failed-request dump's two caps at their boundary: the request that reaches
/// the cap exactly is written, the one past it is not (and "full" is logged once).
@Suite("The failed-request dump's caps at their boundary", .serialized)
struct FailedRequestDumpLimitTests {
    func fail(_ server: TestServer, body: Int) async throws {
        let request = Array("POST /fail?500 HTTP/1.1\r\nHost: t\r\nContent-Length: \(body)\r\n\r\n".utf8) + patternBytes(body)
        let (response, _) = try await rawExchange(port: server.port, request)
        #expect(response?.status == 500)
    }

    func withDump(
        maxRequests: Int = 1000, maxTotalBytes: Int = 1 << 30, _ body: (TestServer, String) async throws -> Void
    ) async throws {
        let directory = NSTemporaryDirectory() + "statefun-dump-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withProductionServer({
            $0.failedRequestDump = FailedRequestDumpConfiguration(
                directory: directory, maxRequests: maxRequests, maxTotalBytes: maxTotalBytes)
        }) { server in try await body(server, directory) }
    }

    func dumped(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test("maxRequests: the request that reaches it is written, the next is not")
    func requestCap() async throws {
        try await withDump(maxRequests: 3) { server, directory in
            for _ in 0..<3 { try await fail(server, body: 10) }
            #expect(try dumped(directory).count == 3, "at the cap")
            #expect(!server.logs.all.contains { $0.message.contains("dump is full") })
            try await fail(server, body: 10)
            #expect(try dumped(directory).count == 3, "one past the cap")
            #expect(server.logs.all.filter { $0.message.contains("dump is full") }.count == 1)
        }
    }

    @Test("maxTotalBytes: the body that fills it exactly is written, one byte more is not")
    func byteCap() async throws {
        try await withDump(maxTotalBytes: 300) { server, directory in
            for _ in 0..<3 { try await fail(server, body: 100) }
            let atCap = try dumped(directory)
            #expect(atCap.count == 3, "300 bytes of 300: \(atCap)")
            let bodies = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".body") }
            #expect(try bodies.map { try Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0)).count } == [100, 100, 100])
            #expect(!server.logs.all.contains { $0.message.contains("dump is full") })
            try await fail(server, body: 1)
            #expect(try dumped(directory).count == 3, "301 bytes of 300")
            #expect(server.logs.all.filter { $0.message.contains("dump is full") }.count == 1)
        }
    }
}
