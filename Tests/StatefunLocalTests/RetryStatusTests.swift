import Foundation
import Logging
import StatefulFunctions
import StatefunServer
import StatefunService
import Synchronization
import Testing

/// statefun-local retries what the runtime's HTTP client retries (408, 409,
/// 420, 429, 499 and every 5xx) and fails the job at once on any other 4xx,
/// each status answered by a real endpoint.
@Suite("statefun-local: every retryable status retried, every other 4xx fatal")
struct RetryStatusTests {
    /// An endpoint that answers `status` to its first `failures` requests, then serves a function
    /// that sends each message on to the egress example/out.
    func endpoint(answering status: Int, first failures: Int) throws -> (HTTPServer, RequestCounter) {
        let functions = StatefulFunctions()
        try functions.bind("example/echo", String.self) { context, value in
            context.sendEgress(try EgressMessage("example/out", value: value))
        }
        let handler = RequestReplyHandler(functions, protocol: .v3, logger: Logger(label: "test"))
        let requests = RequestCounter()
        let route = Route(path: "/statefun", methods: ["POST"]) { request in
            if requests.count.add(1, ordering: .relaxed).newValue <= failures {
                return .text(status, "answered \(status) on purpose")
            }
            let response = await handler.handle(request.body)
            return ServerResponse(
                status: response.status, headers: [(name: "Content-Type", value: response.contentType)],
                body: response.body)
        }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        let server = HTTPServer(configuration: configuration, routes: [route], logger: Logger(label: "test"))
        try server.start()
        return (server, requests)
    }

    @Test(arguments: [408, 409, 420, 429, 499, 500, 502, 503, 504, 599])
    func aRetryableStatusIsRetriedUntilTheEndpointAnswers(_ status: Int) async throws {
        let (server, requests) = try endpoint(answering: status, first: 2)
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(statefunLocal, ["--module", module], input: names(["r"], to: "example/echo"))
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 0, "\(status): \(result.stderr)")
        #expect(result.egress == [#"{"egress":"example/out","type":"io.statefun.types/string","value":"r"}"#], "\(status)")
        #expect(count("retries", in: result.stderr) == 2, "\(status): \(result.stderr)")
        #expect(requests.count.load(ordering: .relaxed) == 3, "\(status)")
    }

    @Test(arguments: [400, 401, 403, 404, 405, 410, 413, 415, 422, 431])
    func anyOtherClientErrorFailsTheJobAtOnce(_ status: Int) async throws {
        let (server, requests) = try endpoint(answering: status, first: .max)
        let module = try moduleFile(v3Module("http://127.0.0.1:\(server.localPort)/statefun"))
        let result = try await run(statefunLocal, ["--module", module], input: names(["f"], to: "example/echo"))
        server.shutdown()
        await server.waitUntilStopped()
        #expect(result.status == 1, "\(status): \(result.stderr)")
        #expect(result.stderr.contains("answered \(status): answered \(status) on purpose"), "\(status): \(result.stderr)")
        #expect(result.egress.isEmpty)
        #expect(requests.count.load(ordering: .relaxed) == 1, "\(status): retried")
    }
}

/// The requests an endpoint got.
final class RequestCounter: Sendable {
    let count = Atomic<Int>(0)
}
