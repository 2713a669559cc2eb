/// Where an ``HTTP2Session``'s requests go: the one narrow interface between
/// the HTTP/2 protocol and the server's request logic (routes, handlers, the
/// request log, response fields). The session takes bytes and events through
/// ``ConnectionHandler`` and produces bytes; everything else it needs goes through here.
///
/// The server's implementation is ``HTTP2Dispatch`` (the loop's shared
/// ``RequestDispatcher`` and ``RequestLog``); tests implement it to drive a
/// session without a socket. Called on the session's thread only.
protocol HTTP2SessionOwner: AnyObject {
    /// The route for a request whose head has arrived, or the answer it gets
    /// without a handler (404, 405, 413): ``RequestDispatcher/admit(method:path:declaredLength:)``.
    func admit(method: String, path: String, declaredLength: Int?) -> RequestDispatcher.Admission

    /// Whether `route`'s requests are answered by ``answerSynchronously(_:_:)``
    /// (the session then calls it once nghttp2 has returned) rather than by ``startHandler(_:_:connection:stream:task:)``.
    func canAnswerSynchronously(_ route: Route) -> Bool

    /// Runs `route`'s synchronous handler here and now.
    func answerSynchronously(_ route: Route, _ request: ServerRequest) -> ServerResponse

    /// Starts `route`'s handler for the request on `stream` of `connection`: returns its response
    /// if it answered at once, else nil, with the task running it in `task` (the
    /// session cancels it if the stream goes); its response comes back through
    /// ``HTTP2Session/handlerFinished(_:_:)``.
    func startHandler(
        _ route: Route, _ request: consuming ServerRequest, connection: UInt64, stream: Int32,
        task: inout Task<Void, Never>?
    ) -> ServerResponse?

    /// A request was answered (by its handler, or rejected): metrics, the failure line, the access log.
    func requestAnswered(_ record: RequestRecord, response: ServerResponse, status: Int, rejection: HTTPError?, now: UInt64)

    /// A handler's response had an invalid status or header fields (``ResponseValidation``): log them.
    func reportResponseProblems(_ problems: [ResponseProblem], path: String)

    /// A response's header fields, checked and encoded as HTTP/2 fields; the ones dropped are in `problems`.
    func encodeResponseFields(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> HTTP2Fields

    /// The current `date` field value.
    func currentDateBytes() -> [UInt8]
}
