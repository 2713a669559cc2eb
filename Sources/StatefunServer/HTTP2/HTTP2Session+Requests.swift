// A request on a stream: its header fields, routing and declared size, its
// body, and its handler once the client ends the stream.
import Logging

extension HTTP2Session {
    func beginHeaders(_ id: Int32) {
        let stream = HTTP2Stream(id: id, now: now)
        streams[id] = stream
        lastStream = stream
    }

    func header(_ id: Int32, name: Span<UInt8>, value: Span<UInt8>) {
        guard let stream = stream(id), stream.state == .headers else { return }
        stream.headerListSize += name.count + value.count + 32
        if stream.headerListSize > configuration.maxHeaderSize { stream.headersTooLarge = true }
        if stream.headersTooLarge { return }
        // nghttp2 has checked the fields: names are lowercase; pseudo-headers
        // are known, come once each and before the regular fields.
        if !name.isEmpty && name[0] == UInt8(ascii: ":") {
            if bytesEqualLowercase(name, ":method") {
                stream.method = makeHeaderString(value)
            } else if bytesEqualLowercase(name, ":path") {
                setTarget(stream, value)
            } else if bytesEqualLowercase(name, ":authority") {
                let authority = makeString(value)
                stream.authority = authority
                if stream.headers.isEmpty {
                    // The request's Host, first as in HTTP/1.1, unless a host field comes.
                    stream.headers.reserveCapacity(8)
                    stream.headers.append((name: "host", value: authority))
                    stream.hostFromAuthority = true
                }
            }
            return
        }
        let field = (name: makeHeaderString(name), value: makeHeaderString(value))
        if bytesEqualLowercase(name, "content-length") {
            if !stream.sawContentLength {
                stream.sawContentLength = true
                stream.declaredLength = Int(field.value)
            }
        } else if bytesEqualLowercase(name, "host") {
            if stream.hostFromAuthority && !stream.sawHost {
                stream.sawHost = true
                stream.headers[0] = field
                return
            }
            stream.sawHost = true
        }
        if stream.headers.isEmpty { stream.headers.reserveCapacity(8) }
        stream.headers.append(field)
    }

    /// Splits `:path` into path and query, reusing the strings of the last one when it repeats.
    func setTarget(_ stream: HTTP2Stream, _ bytes: Span<UInt8>) {
        if !lastTarget.bytes.equals(bytes) {
            var mark: Int?
            for i in bytes.indices where bytes[i] == UInt8(ascii: "?") {
                mark = i
                break
            }
            if let mark {
                lastTarget = (
                    Array(copying: bytes), makeString(bytes.extracting(0..<mark)),
                    makeString(bytes.extracting((mark + 1)..<bytes.count))
                )
            } else {
                lastTarget = (Array(copying: bytes), makeString(bytes), nil)
            }
        }
        stream.path = lastTarget.path
        stream.query = lastTarget.query
    }

    /// The header block is complete: route the request and check its declared size.
    func headersComplete(_ id: Int32) {
        guard let stream = stream(id), stream.state == .headers else { return }
        stream.state = .body
        let path = stream.path
        stream.record = RequestRecord(
            method: stream.method, path: path, routePath: "unmatched", protocolName: "HTTP/2",
            peer: peer, startedAt: now)
        if stream.headersTooLarge {
            reject(stream, HTTPError(431, "request header list exceeds the limit of \(configuration.maxHeaderSize) bytes"))
            return
        }
        switch owner.admit(method: stream.method, path: path, declaredLength: stream.declaredLength) {
        case .accepted(let route):
            stream.route = route
            stream.record?.routePath = route.path
        case .unrouted(let error, let extraHeaders):
            reject(stream, error, extraHeaders: extraHeaders)
            return
        case .tooLarge(let error):
            reject(stream, error)
            return
        }
        if let length = stream.declaredLength, length > 0 { setDemand(stream, length) }
    }

    func data(_ id: Int32, _ bytes: Span<UInt8>) {
        guard let stream = stream(id) else { return }
        stream.receivedLength += bytes.count
        stream.lastProgress = now
        // Stream-level window: the connection's is the one that bounds memory.
        let unacknowledged = stream.receivedLength - stream.windowAcknowledged
        if unacknowledged * 2 >= configuration.http2.initialStreamWindowSize {
            stream.windowAcknowledged = stream.receivedLength
            nghttp2.submitWindowUpdate(stream: id, increment: unacknowledged)
        }
        guard stream.state == .body else { return }  // answered early: discarded
        if stream.demand > 0 { setDemand(stream, max(0, stream.demand - bytes.count)) }
        if stream.body.count + bytes.count > configuration.maxBodySize
            || stream.body.count + bytes.count > context.bodyMemory.limit + BodyMemoryBudget.perConnectionAllowance
        {
            dropBody(stream)
            reject(stream, HTTPError(413, "request body exceeds the limit of \(min(configuration.maxBodySize, context.bodyMemory.limit)) bytes"))
            return
        }
        if stream.body.isEmpty {
            stream.body.reserveCapacity(stream.declaredLength ?? min(configuration.maxBodySize, max(bytes.count, 64 * 1024)))
        }
        stream.body.append(copying: bytes)
        held += bytes.count
    }

    /// END_STREAM from the client: the request is complete; run its handler.
    func requestComplete(_ id: Int32) {
        guard let stream = stream(id) else { return }
        stream.requestComplete = true
        guard stream.state == .body, let route = stream.route, var record = stream.record else { return }
        if handlersRunning + orphanedHandlers.count >= configuration.http2.maxConcurrentStreams {
            // Only reachable when reset streams' handlers are still running: refuse (safe to retry).
            if !refusedForOrphans {
                refusedForOrphans = true
                logger.notice(
                    "refusing HTTP/2 streams: the handlers of streams the client reset are still running",
                    metadata: ["peer": "\(peer)", "orphaned": "\(orphanedHandlers.count)"])
            }
            stream.state = .answered
            nghttp2.submitReset(stream: id, .refusedStream)
            return
        }
        stream.state = .handling
        setDemand(stream, 0)
        stream.handlerBytes = stream.body.count
        handlersRunning += 1
        record.requestBytes = stream.body.count
        stream.record = record
        let request = ServerRequest(
            method: stream.method, path: stream.path, query: stream.query, version: "HTTP/2",
            headers: HTTPHeaders(stream.headers), body: stream.body, peer: peer)
        stream.body = []
        stream.headers = []
        if owner.canAnswerSynchronously(route) {
            // Answered once nghttp2 has returned (answerReadyRequests), not inside its callback.
            readyRequests.append((id, route, request))
            return
        }
        stream.handlingSince = now
        if let response = owner.startHandler(route, request, connection: connectionID, stream: id, task: &stream.handlerTask) {
            handlerFinished(id, response)
        }
    }

    /// Answers up to `limit` of the requests whose handlers run synchronously,
    /// in the order they completed. Returns whether more are waiting.
    func answerReadyRequests(limit: Int) -> Bool {
        let end = min(readyRequests.count, nextReadyRequest + limit)
        while nextReadyRequest < end {
            let (id, route, request) = readyRequests[nextReadyRequest]
            nextReadyRequest += 1
            guard let stream = stream(id), stream.state == .handling else {
                // Reset by the client meanwhile: nothing to answer.
                held -= orphanedHandlers.removeValue(forKey: id) ?? 0
                continue
            }
            handlerFinished(id, owner.answerSynchronously(route, request))
        }
        if nextReadyRequest < readyRequests.count { return true }
        dropReadyRequests()
        return false
    }

    /// Forgets the requests still waiting for their synchronous handler (the connection is closing).
    func dropReadyRequests() {
        readyRequests.removeAll(keepingCapacity: true)
        nextReadyRequest = 0
    }

    /// Serves the request of an `Upgrade: h2c` as stream 1 (RFC 9113 §3.2,
    /// RFC 7540 §3.2): it was read over HTTP/1.1 (`record`), and its handler starts now.
    func startUpgradedRequest(_ record: RequestRecord, route: Route, request: consuming ServerRequest) {
        let stream = HTTP2Stream(id: 1, now: now)
        stream.state = .handling
        stream.requestComplete = true
        stream.record = record
        stream.method = record.method
        stream.path = record.path
        streams[1] = stream
        lastStream = stream
        handlersRunning += 1
        stream.handlingSince = now
        if let response = owner.startHandler(route, request, connection: connectionID, stream: 1, task: &stream.handlerTask) {
            handlerFinished(1, response)
        }
    }

    func streamClosed(_ id: Int32, errorCode: HTTP2ErrorCode) {
        if lastStream?.id == id { lastStream = nil }
        guard let stream = streams.removeValue(forKey: id) else { return }
        dropBody(stream)
        setDemand(stream, 0)
        if stream.state == .handling {
            stream.handlerTask.take()?.cancel()
            handlersRunning -= 1
            orphanedHandlers[id] = stream.handlerBytes
            logger.debug(
                "client reset a stream whose handler is running; its response will be dropped",
                metadata: ["peer": "\(peer)", "stream": "\(id)", "error": "\(errorCode)"])
        }
    }
}
