import CLinuxShims
import Glibc
import Logging

extension EventLoop {
    enum HeadStep {
        case needMore(start: Int, resume: Int)
        case head(ParsedHead, start: Int, end: Int)
        case failure(HTTPError)
    }

    /// Looks for a complete request head in `buffer` from `start`, the bytes
    /// before `resume` having been scanned already.
    func headStep(_ connection: Connection, _ buffer: UnsafeBufferPointer<UInt8>, start: Int, resume: Int) -> HeadStep {
        let maxHeaderSize = configuration.maxHeaderSize
        var start = start
        // RFC 9112 §2.2: ignore empty lines before the request line.
        while start + 1 < buffer.count && buffer[start] == CR && buffer[start + 1] == LF { start += 2 }
        if start + 1 == buffer.count && buffer[start] == CR { return .needMore(start: start, resume: start) }
        do throws(HTTPError) {
            switch try scanHead(buffer, start: start, from: resume) {
            case .incomplete(let resume):
                if buffer.count - start > maxHeaderSize {
                    return .failure(HTTPError(431, "request head exceeds the limit of \(maxHeaderSize) bytes"))
                }
                return .needMore(start: start, resume: resume)
            case .complete(let end):
                if end - start > maxHeaderSize {
                    return .failure(HTTPError(431, "request head exceeds the limit of \(maxHeaderSize) bytes"))
                }
                let head = try connection.headCache.parse(UnsafeBufferPointer(rebasing: buffer[start..<end]))
                return .head(head, start: start, end: end)
            }
        } catch {
            return .failure(error)
        }
    }

    /// Advances the request state machine as far as the buffered input allows.
    func process(_ connection: Connection) {
        while !connection.isClosed {
            switch connection.phase {
            case .head:
                guard connection.hasBufferedInput else { return }
                if connection.headStartedAt == nil { connection.headStartedAt = now }
                if connection.mayBePreface {
                    let start = connection.inboundStart
                    let n = min(connection.inbound.count - start, http2Preface.count)
                    if !connection.inbound[start..<(start + n)].elementsEqual(http2Preface[0..<n]) {
                        if n > http2PrefaceRequestLine
                            && connection.inbound[start..<(start + http2PrefaceRequestLine)]
                                .elementsEqual(http2Preface[0..<http2PrefaceRequestLine])
                        {
                            rejectInvalidPreface(connection)
                            return
                        }
                        connection.mayBePreface = false
                    } else if n < http2Preface.count {
                        return  // so far a prefix of the preface: wait for the rest
                    } else {
                        startPriorKnowledgeHTTP2(connection)
                        return
                    }
                }
                let step = connection.inbound.withUnsafeBufferPointer {
                    headStep(connection, $0, start: connection.inboundStart, resume: connection.scanResume)
                }
                switch step {
                case .needMore(let start, let resume):
                    connection.inboundStart = start
                    connection.scanResume = resume
                    // Only empty lines so far: still idle, not a slow request head.
                    if start == connection.inbound.count { connection.headStartedAt = nil }
                    return
                case .failure(let error):
                    reject(connection, error)
                    return
                case .head(let head, _, let end):
                    connection.inboundStart = end
                    connection.scanResume = end
                    connection.headStartedAt = nil
                    beginRequest(connection, head)
                }
            case .body:
                if connection.chunkedDecoder != nil {
                    guard connection.hasBufferedInput else { return }
                    // Decoded bytes are never more than the input: memory for the input is enough.
                    let allowed = admitBody(connection, connection.inbound.count - connection.inboundStart)
                    if allowed == 0 { return }
                    var decoder = connection.chunkedDecoder!
                    var body = connection.body
                    connection.body = []
                    let maxBody = configuration.maxBodySize
                    let maxTrailer = configuration.maxHeaderSize
                    let start = connection.inboundStart
                    let result = connection.inbound.withUnsafeBufferPointer { buffer -> Result<Int, HTTPError> in
                        do throws(HTTPError) {
                            let consumed = try decoder.feed(
                                UnsafeBufferPointer(rebasing: buffer[start..<(start + allowed)]), into: &body,
                                maxBodySize: maxBody, maxTrailerSize: maxTrailer)
                            return .success(consumed)
                        } catch {
                            return .failure(error)
                        }
                    }
                    connection.body = body
                    connection.chunkedDecoder = decoder
                    trimBodyReservation(connection)
                    switch result {
                    case .failure(let error):
                        reject(connection, error)
                        return
                    case .success(let consumed):
                        connection.inboundStart += consumed
                        if decoder.isDone {
                            dispatch(connection)
                        } else {
                            return
                        }
                    }
                } else {
                    let available = connection.inbound.count - connection.inboundStart
                    let n = available > 0 ? admitBody(connection, min(available, connection.bodyRemaining)) : 0
                    if n > 0 {
                        let start = connection.inboundStart
                        connection.inbound.withUnsafeBytes { raw in
                            appendBody(connection, UnsafeRawBufferPointer(rebasing: raw[start..<(start + n)]))
                        }
                        connection.inboundStart += n
                    }
                    if connection.bodyRemaining == 0 {
                        if connection.discardingBody {
                            sendPendingRejection(connection)
                        } else {
                            dispatch(connection)
                        }
                    } else {
                        return
                    }
                }
            case .handling, .responding, .lingering, .http2:
                return
            }
        }
    }

    /// Validates a parsed head against routes and limits, then sets up body reading.
    func beginRequest(_ connection: Connection, _ head: consuming ParsedHead) {
        connection.mayBePreface = false
        connection.record = RequestRecord(
            method: head.method, path: head.path, routePath: "unmatched", protocolName: head.version.string,
            peer: connection.peerDescription, startedAt: now)
        switch dispatcher.admit(method: head.method, path: head.path, declaredLength: head.contentLength) {
        case .accepted(let route):
            connection.route = route
            connection.record?.routePath = route.path
        case .unrouted(let error, let extraHeaders):
            rejectKeepingFraming(connection, head, error, extraHeaders: extraHeaders)
            return
        case .tooLarge(let error):
            reject(connection, error)
            return
        }
        connection.closeAfterResponse = !head.keepAlive
        connection.body = []
        connection.bodyFilled = nil
        connection.sentLargeBody = false
        let hasBody = head.hasBody, chunked = head.chunked, contentLength = head.contentLength
        let sendContinue = head.expectContinue && head.version == .http11
        // The head moves to the connection (a copy would retain each of its strings).
        connection.head = consume head
        guard hasBody else {
            dispatch(connection)
            return
        }
        connection.phase = .body
        if chunked {
            connection.chunkedDecoder = ChunkedDecoder()
        } else {
            let length = contentLength ?? 0
            connection.bodyRemaining = length
            connection.sentLargeBody = length >= Self.largeBody
            if length <= Self.wholeBodyLimit {
                // Allocated whole when its first bytes arrive (Connection.allocateWholeBody).
                connection.bodyFilled = 0
            } else {
                // Grown towards the declared length as bytes arrive, without trusting it up front.
                connection.body.reserveCapacity(Self.wholeBodyLimit)
            }
        }
        // Only ask for the body if the client is waiting for us to (nothing sent yet).
        if sendContinue && !connection.hasBufferedInput {
            enqueue(connection, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            flush(connection)
        }
    }

    /// Runs the route handler (as a Task; its response comes back through the inbox).
    func dispatch(_ connection: Connection) {
        // The head moves into the request (no copy); deliver needs only its framing.
        guard connection.route != nil, let head = connection.head.take(), let route = connection.route else { return }
        let headRequest = head.method == "HEAD"
        connection.responseFraming = (http10: head.version == .http10, headRequest: headRequest)
        connection.phase = .handling
        connection.record?.requestBytes = connection.body.count
        let upgradeSettings = head.upgrade && configuration.http2.enabled && !draining ? h2cUpgradeSettings(head) : nil
        // The body moves into the request: the connection keeps no reference to it.
        var body: [UInt8] = []
        swap(&body, &connection.body)
        connection.bodyFilled = nil
        let request = ServerRequest(
            method: head.method, path: head.path, query: head.query, version: head.version.string,
            headers: HTTPHeaders(head.headers), body: body, peer: connection.peerDescription)
        if let settings = upgradeSettings {
            upgradeToHTTP2(connection, request, route: route, settings: settings, headRequest: headRequest)
            return
        }
        connection.handlingSince = now
        if let response = dispatcher.start(
            route, consume request, replyTo: self, connection: connection.id, stream: 0, task: &connection.handlerTask)
        {
            deliver(response, to: connection)
            return
        }
        updateInterest(connection)
    }

    func deliver(_ response: ServerResponse, to connection: Connection) {
        guard connection.phase == .handling else { return }
        connection.handlerTask = nil
        // The handler is done with the body.
        if connection.bodyReserved > 0 { releaseBodyMemory(connection) }
        let framing = connection.responseFraming
        var problems: [ResponseProblem] = []
        let status = ResponseValidation.status(of: response, problems: &problems)
        let fields = encodedFieldsCache.encode(response.headers, problems: &problems)
        let close = connection.closeAfterResponse || fields.asksClose || connection.peerClosed || draining
        connection.closeAfterResponse = close
        let (bytes, sendBody) = encodeResponseHead(
            response, status: status, fields: fields,
            framing: ResponseFraming(close: close, http10: framing.http10, headRequest: framing.headRequest),
            dateLine: dateCache.currentHeadLine())
        if !problems.isEmpty { requestLog.report(problems, path: connection.record?.path ?? "") }
        if var record = connection.record.take() {
            record.responseBytes = sendBody ? response.body.count : 0
            requestLog.answered(record, response: response, status: status, rejection: nil, now: now)
        }
        connection.phase = .responding
        connection.responseInFlight = true
        connection.resetRequest()
        enqueue(connection, bytes)
        if sendBody { enqueue(connection, response.body) }
        flush(connection)
    }

    /// Answers a bad request with a short text/plain error and closes the connection
    /// (unless `keepAlive`: the request was read whole and the client keeps the connection).
    func reject(
        _ connection: Connection, _ error: HTTPError, extraHeaders: [(name: String, value: String)] = [],
        headRequest: Bool = false, keepAlive: Bool = false, http10: Bool = false
    ) {
        releaseBodyMemory(connection)
        let close = !keepAlive || connection.peerClosed || draining
        var response = ServerResponse.text(error.status, error.message + "\n")
        response.headers.append(contentsOf: extraHeaders)
        var problems: [ResponseProblem] = []
        let (bytes, sendBody) = encodeResponseHead(
            response, status: error.status, fields: encodeHeaderFields(response.headers, problems: &problems),
            framing: ResponseFraming(close: close, http10: http10, headRequest: headRequest),
            dateLine: dateCache.currentHeadLine())
        var record = connection.record ?? RequestRecord(
            method: "", path: "", routePath: "unmatched", protocolName: "HTTP/1.1",
            peer: connection.peerDescription, startedAt: now)
        record.responseBytes = sendBody ? response.body.count : 0
        requestLog.answered(record, response: response, status: error.status, rejection: error, now: now)
        connection.phase = .responding
        connection.responseInFlight = true
        connection.closeAfterResponse = close
        connection.resetRequest()
        if close {
            // Nothing more will be parsed; free the input now.
            connection.inbound = []
            connection.inboundStart = 0
            connection.scanResume = 0
        }
        enqueue(connection, bytes)
        if sendBody { enqueue(connection, response.body) }
        if close {
            flush(connection)
        } else {
            // Written from the next round: pipelined requests answered this way
            // one after another must not nest (flush, then the next request, then flush...).
            updateInterest(connection)
        }
    }
}
