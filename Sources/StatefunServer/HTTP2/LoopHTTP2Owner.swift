// The event loop's side of an HTTP/2 session: where the session's requests
// are routed, run, logged and their responses encoded (every call the session
// makes into the rest of the server is here).

/// Drives an ``HTTP2Session`` for one connection of an event loop.
final class LoopHTTP2Owner: HTTP2SessionOwner {
    // Unsafe unowned: no reference counting on each use. The loop owns the
    // connection, the connection its session, the session this owner.
    unowned(unsafe) let loop: EventLoop
    unowned(unsafe) let connection: Connection

    init(loop: EventLoop, connection: Connection) {
        self.loop = loop
        self.connection = connection
    }

    var now: UInt64 { loop.now }

    func admit(method: String, path: String, declaredLength: Int?) -> RequestDispatcher.Admission {
        loop.dispatcher.admit(method: method, path: path, declaredLength: declaredLength)
    }

    func canAnswerSynchronously(_ route: Route) -> Bool {
        loop.dispatcher.answersSynchronously(route)
    }

    func answerSynchronously(_ route: Route, _ request: ServerRequest) -> ServerResponse {
        loop.dispatcher.answerSynchronously(route, request)
    }

    func startHandler(
        _ route: Route, _ request: consuming ServerRequest, stream: Int32, task: inout Task<Void, Never>?
    ) -> ServerResponse? {
        loop.dispatcher.start(route, request, replyTo: loop, connection: connection.id, stream: stream, task: &task)
    }

    func requestAnswered(_ record: RequestRecord, response: ServerResponse, status: Int, rejection: HTTPError?) {
        loop.requestLog.answered(record, response: response, status: status, rejection: rejection, now: loop.now)
    }

    func reportResponseProblems(_ problems: [ResponseProblem], path: String) {
        loop.requestLog.report(problems, path: path)
    }

    func encodeResponseFields(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> HTTP2Fields {
        loop.encodeHTTP2ResponseFields(fields, problems: &problems)
    }

    func currentDateBytes() -> [UInt8] {
        loop.currentDateBytes()
    }

    func waitForBodyMemory() {
        loop.registerMemoryWaiter(connection)
    }
}
