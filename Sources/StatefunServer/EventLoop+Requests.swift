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

    /// The route for a request: a registered route, else the built-in health check.
    func matchRoute(path: String, method: String) -> RouteTable.Match {
        let match = context.routes.match(path: path, method: method)
        guard case .notFound = match, let health = healthRoute, path == health.path else { return match }
        return health.methods.contains(method) ? .found(health) : .methodNotAllowed(allow: "GET, HEAD")
    }

    /// Validates a parsed head against routes and limits, then sets up body reading.
    func beginRequest(_ connection: Connection, _ head: consuming ParsedHead) {
        connection.mayBePreface = false
        connection.record = RequestRecord(
            method: head.method, path: head.path, routePath: "unmatched", protocolName: head.version.string,
            peer: connection.peerDescription, startedAt: now)
        switch matchRoute(path: head.path, method: head.method) {
        case .notFound:
            rejectKeepingFraming(connection, head, HTTPError(404, "no route for \(head.path)"))
            return
        case .methodNotAllowed(let allow):
            rejectKeepingFraming(
                connection, head, HTTPError(405, "method \(head.method) not allowed for \(head.path)"),
                extraHeaders: [(name: "Allow", value: allow)])
            return
        case .found(let route):
            connection.route = route
            connection.record?.routePath = route.path
        }
        if let length = head.contentLength, length > configuration.maxBodySize {
            reject(connection, HTTPError(413, "request body of \(length) bytes exceeds the limit of \(configuration.maxBodySize) bytes"))
            return
        }
        if let length = head.contentLength, length > context.bodyMemory.limit + BodyMemoryBudget.perConnectionAllowance {
            reject(connection, HTTPError(413, "request body of \(length) bytes exceeds the server's body memory of \(context.bodyMemory.limit) bytes"))
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
        if let response = startHandler(route, consume request, connection: connection.id, stream: 0, task: &connection.handlerTask) {
            deliver(response, to: connection)
            return
        }
        updateInterest(connection)
    }

    /// Starts `route`'s handler for `request`. A built-in route, and a
    /// synchronous handler of an HTTP/1.1 request when handlers run on the
    /// loop, answer at once (the response is returned); any other runs as a
    /// Task on the configured executor and sends its response back to this loop.
    /// `task` receives the handler's task, to cancel it.
    func startHandler(
        _ route: Route, _ request: consuming ServerRequest, connection: UInt64, stream: Int32, task: inout Task<Void, Never>?
    ) -> ServerResponse? {
        if let inline = route.inlineHandler { return inline(request) }
        if stream == 0, canAnswerSynchronously(route) { return answerSynchronously(route, request) }
        task = startTask(route, request, connection: connection, stream: stream)
        return nil
    }

    /// Runs `route`'s handler for `request` as a Task and sends its response back to this loop.
    /// (Apart from ``startHandler(_:_:connection:stream:)``: inlined there, the
    /// capture of the request made every request a copy of it.)
    @inline(never)
    func startTask(
        _ route: Route, _ request: consuming ServerRequest, connection: UInt64, stream: Int32
    ) -> Task<Void, Never> {
        let context = self.context
        let unixSocketPath = request.peer.hasPrefix("unix:") ? context.configuration.unixSocketPath : nil
        let handler = route.handler
        context.metrics.handlersInFlight.increment()
        let operation: @Sendable () async -> Void = { [self, request = consume request] in
            let response = await handler(request)
            context.metrics.handlersInFlight.decrement()
            if let dumper = context.dumper, dumper.shouldDump(response.status) {
                dumper.dump(request, response, unixSocketPath: unixSocketPath)
            }
            self.send(.response(connection: connection, stream: stream, response))
        }
        switch context.configuration.handlerExecution {
        case .eventLoop:
            return Task(executorPreference: executor, operation: operation)
        case .workerThreads:
            return Task(executorPreference: context.workerPool, operation: operation)
        case .cooperativePool, .automatic:   // HTTPServer resolves .automatic; never seen here
            return Task(operation: operation)
        }
    }

    /// Whether `route`'s requests are answered by calling its synchronous
    /// handler on this loop (``answerSynchronously(_:_:)``) rather than in a task.
    func canAnswerSynchronously(_ route: Route) -> Bool {
        route.synchronousHandler != nil && configuration.handlerExecution == .eventLoop
    }

    /// Runs `route`'s synchronous handler here and now; a failure is dumped as a task's would be.
    func answerSynchronously(_ route: Route, _ request: ServerRequest) -> ServerResponse {
        guard let synchronous = route.synchronousHandler else { preconditionFailure("the route has no synchronous handler") }
        let response = synchronous(request)
        if let dumper = context.dumper, dumper.shouldDump(response.status) {
            dumper.dump(
                request, response,
                unixSocketPath: request.peer.hasPrefix("unix:") ? context.configuration.unixSocketPath : nil)
        }
        return response
    }

    func deliver(_ response: ServerResponse, to connection: Connection) {
        guard connection.phase == .handling else { return }
        connection.handlerTask = nil
        // The handler is done with the body.
        if connection.bodyReserved > 0 { releaseBodyMemory(connection) }
        let framing = connection.responseFraming
        var problems: [ResponseProblem] = []
        let fields = encodedFieldsCache.encode(response.headers, problems: &problems)
        let close = connection.closeAfterResponse || fields.asksClose || connection.peerClosed || draining
        connection.closeAfterResponse = close
        let (bytes, sendBody) = encodeResponseHead(
            response, fields: fields,
            framing: ResponseFraming(close: close, http10: framing.http10, headRequest: framing.headRequest),
            dateLine: dateCache.currentHeadLine(), problems: &problems)
        for problem in problems {
            switch problem {
            case .invalidStatus(let status):
                logger.error(
                    "handler returned invalid status \(status); sending 500",
                    metadata: ["path": "\(connection.record?.path ?? "")"])
            case .invalidHeader(let name):
                logger.error(
                    "handler returned an invalid header field; dropped it",
                    metadata: ["path": "\(connection.record?.path ?? "")", "header": "\(name)"])
            }
        }
        if var record = connection.record.take() {
            record.responseBytes = sendBody ? response.body.count : 0
            let status = (200...999).contains(response.status) ? response.status : 500
            requestAnswered(record, response: response, status: status, rejection: nil)
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
            response, fields: encodeHeaderFields(response.headers, problems: &problems),
            framing: ResponseFraming(close: close, http10: http10, headRequest: headRequest),
            dateLine: dateCache.currentHeadLine(), problems: &problems)
        var record = connection.record ?? RequestRecord(
            method: "", path: "", routePath: "unmatched", protocolName: "HTTP/1.1",
            peer: connection.peerDescription, startedAt: now)
        record.responseBytes = sendBody ? response.body.count : 0
        requestAnswered(record, response: response, status: error.status, rejection: error)
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

    /// Records an answered request: metrics, the failure line, the access log line.
    func requestAnswered(_ record: RequestRecord, response: ServerResponse, status: Int, rejection: HTTPError?) {
        let elapsed = now >= record.startedAt ? now - record.startedAt : 0
        let key = ServerMetrics.RequestKey(path: record.routePath, status: status, protocolName: record.protocolName)
        let instruments: ServerMetrics.RequestInstruments
        if let last = lastRequestInstruments, last.key == key {
            instruments = last
        } else {
            instruments = context.metrics.instruments(for: key)
            lastRequestInstruments = instruments
        }
        context.metrics.record(instruments, elapsed)
        if let rejection {
            var metadata: Logger.Metadata = [
                "peer": "\(record.peer)", "status": "\(rejection.status)", "cause": "\(rejection.message)",
            ]
            if !record.method.isEmpty {
                metadata["method"] = "\(record.method)"
                metadata["path"] = "\(record.path)"
                metadata["protocol"] = "\(record.protocolName)"
            }
            logger.notice("rejected request", metadata: metadata)
        } else if status >= 400 && record.routePath != healthRoute?.path {
            logger.log(
                level: status >= 500 ? .error : .warning, "request failed",
                metadata: [
                    "peer": "\(record.peer)", "protocol": "\(record.protocolName)", "method": "\(record.method)",
                    "path": "\(record.path)", "status": "\(status)", "cause": "\(response.failureCause)",
                ])
        }
        if configuration.accessLog {
            let micros = elapsed / 1000
            logger.info(
                "access",
                metadata: [
                    "peer": "\(record.peer)", "protocol": "\(record.protocolName)", "method": "\(record.method)",
                    "path": "\(record.path)", "status": "\(status)", "requestBytes": "\(record.requestBytes)",
                    "responseBytes": "\(record.responseBytes)",
                    "durationMs": "\(micros / 1000).\(String(micros % 1000).leftPaddedWithZeros(3))",
                ])
        }
    }
}

extension String {
    func leftPaddedWithZeros(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
