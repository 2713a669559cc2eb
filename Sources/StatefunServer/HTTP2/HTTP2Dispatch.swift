/// The server's side of every HTTP/2 session of one event loop: requests go to
/// the loop's shared ``RequestDispatcher``, answers to its ``RequestLog``, the
/// same ones HTTP/1.1 requests use. The loop appears only as the address its
/// handlers' responses are sent to.
final class HTTP2Dispatch: HTTP2SessionOwner {
    let dispatcher: RequestDispatcher
    let requestLog: RequestLog
    /// Where handlers' tasks send their responses. Unowned: the loop owns this
    /// object (a strong reference would be a cycle).
    unowned let replyTo: EventLoop
    @exclusivity(unchecked) var fieldsCache = FieldsCache(empty: HTTP2Fields(), encoder: encodeHTTP2Fields)
    @exclusivity(unchecked) var dateCache = DateCache()

    init(dispatcher: RequestDispatcher, requestLog: RequestLog, replyTo: EventLoop) {
        self.dispatcher = dispatcher
        self.requestLog = requestLog
        self.replyTo = replyTo
    }

    func admit(method: String, path: String, declaredLength: Int?) -> RequestDispatcher.Admission {
        dispatcher.admit(method: method, path: path, declaredLength: declaredLength)
    }

    func canAnswerSynchronously(_ route: Route) -> Bool {
        dispatcher.answersSynchronously(route)
    }

    func answerSynchronously(_ route: Route, _ request: ServerRequest) -> ServerResponse {
        dispatcher.answerSynchronously(route, request)
    }

    func startHandler(
        _ route: Route, _ request: consuming ServerRequest, connection: UInt64, stream: Int32,
        task: inout Task<Void, Never>?
    ) -> ServerResponse? {
        dispatcher.start(route, request, replyTo: replyTo, connection: connection, exchange: stream, task: &task)
    }

    func requestAnswered(_ record: RequestRecord, response: ServerResponse, status: Int, rejection: HTTPError?, now: UInt64) {
        requestLog.answered(record, response: response, status: status, rejection: rejection, now: now)
    }

    func reportResponseProblems(_ problems: [ResponseProblem], path: String) {
        requestLog.report(problems, path: path)
    }

    func encodeResponseFields(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> HTTP2Fields {
        fieldsCache.encode(fields, problems: &problems)
    }

    func currentDateBytes() -> [UInt8] {
        dateCache.currentValueBytes()
    }
}
