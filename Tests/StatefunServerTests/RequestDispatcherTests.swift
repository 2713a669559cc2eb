import CoreMetrics
import Logging
@testable import StatefunServer
import Testing

/// The request logic both protocols share (Requests/), without a server.
@Suite("Request dispatcher and response validation")
struct RequestDispatcherTests {
    func dispatcher(maxBodySize: Int = 1000, maxBodyMemory: Int = 10_000_000, health: String? = "/health") -> RequestDispatcher {
        var configuration = HTTPServerConfiguration()
        configuration.maxBodySize = maxBodySize
        configuration.maxBodyMemory = maxBodyMemory
        configuration.healthCheckPath = health
        let routes = RouteTable([
            Route(path: "/fn", methods: ["POST"]) { _ in .text(200, "ok") },
            Route(path: "/fn", methods: ["PUT"]) { _ in .text(200, "ok") },
        ])
        let context = ServerContext(
            configuration: configuration, routes: routes, logger: Logger(label: "test"), lifecycle: Lifecycle(),
            readiness: Readiness(), metrics: ServerMetrics(factory: NOOPMetricsHandler.instance), workerPool: nil,
            dumper: nil)
        return RequestDispatcher(context: context)
    }

    func status(_ admission: RequestDispatcher.Admission) -> Int {
        switch admission {
        case .accepted: 0
        case .unrouted(let error, _): error.status
        case .tooLarge(let error): error.status
        }
    }

    @Test("routes, 404, 405 with Allow, and 413 at the body limit and the body memory")
    func admission() {
        let d = dispatcher()
        #expect(status(d.admit(method: "POST", path: "/fn", declaredLength: 1000)) == 0)
        #expect(status(d.admit(method: "POST", path: "/fn", declaredLength: 1001)) == 413)
        #expect(status(d.admit(method: "POST", path: "/other", declaredLength: nil)) == 404)
        guard case .unrouted(let error, let extra) = d.admit(method: "GET", path: "/fn", declaredLength: nil) else {
            Issue.record("GET /fn is not routed")
            return
        }
        #expect(error.status == 405)
        #expect(extra.first?.name == "Allow" && extra.first?.value == "POST, PUT")
        // A body larger than the server's body memory (plus a connection's allowance) can never be taken.
        let small = dispatcher(maxBodySize: 1 << 30, maxBodyMemory: 1000)
        #expect(status(small.admit(method: "POST", path: "/fn", declaredLength: 1000 + BodyMemoryBudget.perConnectionAllowance)) == 0)
        #expect(status(small.admit(method: "POST", path: "/fn", declaredLength: 1001 + BodyMemoryBudget.perConnectionAllowance)) == 413)
    }

    @Test("the health route answers GET and HEAD on the loop; other methods get 405")
    func health() throws {
        let d = dispatcher()
        guard case .accepted(let route) = d.admit(method: "HEAD", path: "/health", declaredLength: nil) else {
            Issue.record("HEAD /health is not routed")
            return
        }
        #expect(route.inlineHandler != nil)
        #expect(status(d.admit(method: "POST", path: "/health", declaredLength: nil)) == 405)
        #expect(status(dispatcher(health: nil).admit(method: "GET", path: "/health", declaredLength: nil)) == 404)
    }

    @Test("a status outside 200...999 is sent as 500 and reported; 204 and 304 carry no body")
    func validation() {
        var problems: [ResponseProblem] = []
        #expect(ResponseValidation.status(of: ServerResponse(status: 200), problems: &problems) == 200)
        #expect(ResponseValidation.status(of: ServerResponse(status: 999), problems: &problems) == 999)
        #expect(problems.isEmpty)
        #expect(ResponseValidation.status(of: ServerResponse(status: 199), problems: &problems) == 500)
        #expect(ResponseValidation.status(of: ServerResponse(status: 1000), problems: &problems) == 500)
        #expect(problems == [.invalidStatus(199), .invalidStatus(1000)])
        #expect(!ResponseValidation.allowsBody(204) && !ResponseValidation.allowsBody(304) && ResponseValidation.allowsBody(200))
    }
}
