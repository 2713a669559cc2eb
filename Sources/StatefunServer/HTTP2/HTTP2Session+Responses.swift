// Answers: a handler's response or a rejection submitted on its stream, the
// body read out by nghttp2's data provider, and the end of a request answered early.
import Logging

extension HTTP2Session {
    /// A handler's response, back on the loop. Dropped if the stream is gone (reset by the client).
    func handlerFinished(_ id: Int32, _ response: ServerResponse) {
        guard let stream = stream(id), stream.state == .handling else {
            held -= orphanedHandlers.removeValue(forKey: id) ?? 0
            return
        }
        stream.handlerTask = nil
        handlersRunning -= 1
        answer(stream, response, rejection: nil)
    }

    func reject(
        _ stream: HTTP2Stream, _ error: HTTPError, extraHeaders: [(name: String, value: String)] = []
    ) {
        var response = ServerResponse.text(error.status, error.message + "\n")
        response.headers.append(contentsOf: extraHeaders)
        if stream.state == .handling { handlersRunning -= 1 }
        answer(stream, response, rejection: error)
    }

    /// Submits `response` on `stream` (HEADERS, then DATA from the body unless it is empty or HEAD).
    func answer(_ stream: HTTP2Stream, _ response: ServerResponse, rejection: HTTPError?) {
        stream.state = .answered
        dropBody(stream)
        setDemand(stream, 0)
        held -= stream.handlerBytes
        stream.handlerBytes = 0
        var problems: [ResponseProblem] = []
        let status = ResponseValidation.status(of: response, problems: &problems)
        let bodyAllowed = ResponseValidation.allowsBody(status)
        let sendBody = bodyAllowed && stream.method != "HEAD" && !response.body.isEmpty
        let fields = owner.encodeResponseFields(response.headers, problems: &problems)
        if !problems.isEmpty { owner.reportResponseProblems(problems, path: stream.path) }
        if sendBody { stream.responseBody = response.body }

        let rc = nghttp2.submitResponse(
            stream: stream.id, status: status, fields: fields,
            contentLength: status == 204 ? nil : (bodyAllowed ? response.body.count : 0), date: owner.currentDateBytes(),
            withBody: sendBody)
        if rc != 0 {
            logger.error(
                "cannot submit an HTTP/2 response", metadata: ["peer": "\(peer)", "error": "\(NGHTTP2Session.describe(rc))"])
            nghttp2.submitReset(stream: stream.id, .internalError)
        }
        if var record = stream.record {
            record.responseBytes = sendBody ? response.body.count : 0
            owner.requestAnswered(record, response: response, status: status, rejection: rejection, now: now)
        }
    }

    /// nghttp2's data provider copied `count` more bytes of `stream`'s response
    /// body into a DATA frame. Returns whether that was the end of it.
    func responseBodyRead(_ stream: HTTP2Stream, count: Int) -> Bool {
        stream.lastProgress = now
        stream.responseOffset += count
        guard stream.responseOffset == stream.responseBody.count else { return false }
        stream.responseBody = []
        stream.responseOffset = 0
        return true
    }

    /// The response is complete while the client may still be sending a request
    /// we answered early (404, 413...). If the rest of its body could block on
    /// flow control (more than a window, or of unknown length), ask it to stop
    /// with RST_STREAM(NO_ERROR) (RFC 9113 §8.1). A rest that fits is let through
    /// and discarded: some clients (curl 7.88) fail a request reset mid-upload
    /// even after its whole response arrived.
    func responseSent(_ id: Int32) {
        guard let stream = stream(id), !stream.requestComplete else { return }
        if let declared = stream.declaredLength,
            declared - stream.receivedLength <= min(configuration.http2.initialStreamWindowSize, configuration.http2.connectionWindowSize)
        {
            return
        }
        nghttp2.submitReset(stream: id, .noError)
    }
}
