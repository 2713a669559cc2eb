// Answers the machine gives without a handler (rejections), its timers and
// shutdown, and its input buffer.

extension HTTP1StateMachine {
    // MARK: - Rejections

    /// Answers with `error` and closes (unless `keepAlive`: the request was read
    /// whole and the client keeps the connection).
    mutating func reject(
        _ error: HTTPError, extraHeaders: [(name: String, value: String)] = [], headRequest: Bool = false,
        keepAlive: Bool = false, http10: Bool = false, now: UInt64
    ) -> HTTP1Action {
        releaseBodyMemory()
        let close = !keepAlive || peerClosed || draining
        let record = self.record ?? RequestRecord(
            method: "", path: "", routePath: "unmatched", protocolName: "HTTP/1.1", peer: "", startedAt: now)
        state = .responding
        closeAfterResponse = close
        resetRequest()
        // Nothing more will be parsed: the input goes now.
        if close { dropInput() }
        return .reject(
            HTTP1Rejection(
                error: error, extraHeaders: extraHeaders,
                framing: ResponseFraming(close: close, http10: http10, headRequest: headRequest), record: record))
    }

    /// Answers a request no route takes (404, 405), keeping the connection when
    /// its framing is known and the client keeps it: a body of declared length
    /// is read and dropped first (as nginx does). A chunked body,
    /// `Expect: 100-continue` or a body larger than the limit closes it.
    mutating func rejectKeepingFraming(
        _ head: borrowing ParsedHead, _ error: HTTPError, extraHeaders: [(name: String, value: String)], now: UInt64
    ) -> HTTP1Action? {
        let headRequest = head.method == "HEAD"
        let http10 = head.version == .http10
        let length = head.contentLength ?? 0
        guard head.keepAlive, !head.chunked, !head.expectContinue, length <= limits.maxBodySize else {
            return reject(error, extraHeaders: extraHeaders, headRequest: headRequest, now: now)
        }
        guard length > 0 else {
            return reject(error, extraHeaders: extraHeaders, headRequest: headRequest, keepAlive: true, http10: http10, now: now)
        }
        discarding = HTTP1Rejection(
            error: error, extraHeaders: extraHeaders,
            framing: ResponseFraming(close: false, http10: http10, headRequest: headRequest),
            record: record ?? RequestRecord(
                method: "", path: "", routePath: "unmatched", protocolName: "HTTP/1.1", peer: "", startedAt: now))
        state = .body
        body = []
        bodyFilled = nil
        bodyRemaining = length
        return nil
    }

    /// The body of a request answered without a handler is discarded: answer it, keeping the connection.
    mutating func sendDiscardedRejection(now: UInt64) -> HTTP1Action {
        guard let pending = discarding.take() else { return .none }
        return reject(
            pending.error, extraHeaders: pending.extraHeaders, headRequest: pending.framing.headRequest, keepAlive: true,
            http10: pending.framing.http10, now: now)
    }

    // MARK: - Timers and shutdown

    /// The periodic check: a head too slow (408), an idle connection (closed), a
    /// body stalled (408) or starved of memory (503). `underPressure`: whether
    /// bodies waited for memory when the sweep began.
    mutating func tick(now: UInt64, underPressure: Bool) -> HTTP1Action {
        self.now = now
        switch state {
        case .head:
            if let started = headStartedAt {
                if now - started > limits.headerTimeoutNanos {
                    return reject(HTTPError(408, "request head not received within \(limits.headerTimeout)"), now: now)
                }
            } else if now - lastActivity > limits.idleTimeoutNanos {
                state = .done
                return .close(.idle)
            }
        case .body:
            if let action = shedForMemory(now: now, underPressure: underPressure) { return action }
            if !memoryBlocked && now - lastActivity > limits.idleTimeoutNanos {
                return reject(HTTPError(408, "request body stalled for \(limits.idleTimeout)"), now: now)
            }
        case .handling, .responding, .done:
            break
        }
        return .none
    }

    /// The server began shutting down: every response from now on closes the connection.
    mutating func beginDrain() {
        draining = true
    }

    /// The connection is closed (or handed over): its memory goes back, its buffers are dropped.
    mutating func connectionClosed() {
        releaseBodyMemory()
        state = .done
        dropInput()
        body = []
        bodyFilled = nil
    }

    // MARK: - Buffers

    /// Drops consumed input so the buffer does not grow without bound.
    mutating func compactInbound() {
        if inboundStart == 0 { return }
        if inboundStart >= inbound.count {
            if inbound.capacity > 64 * 1024 {
                inbound = []
            } else {
                inbound.removeAll(keepingCapacity: true)
            }
            scanResume = 0
            inboundStart = 0
        } else if inboundStart >= 16 * 1024 || inboundStart * 2 >= inbound.count {
            inbound.removeFirst(inboundStart)
            scanResume = max(0, scanResume - inboundStart)
            inboundStart = 0
        }
    }

    /// Frees the input buffer of a connection waiting for its next request once
    /// it has grown past a small request's size: thousands of idle keep-alive
    /// connections must not each hold the buffer of their largest request.
    mutating func releaseIdleBuffers() {
        guard state == .head, inboundStart >= inbound.count, inbound.capacity > 4096 else { return }
        inbound = []
        inboundStart = 0
        scanResume = 0
    }

    mutating func dropInput() {
        inbound = []
        inboundStart = 0
        scanResume = 0
    }

    /// The unread input, handed over (to HTTP/2).
    mutating func takeInput() -> [UInt8] {
        let rest = Array(inbound[inboundStart...])
        dropInput()
        return rest
    }

    /// Forgets the finished request so the next one can be read.
    mutating func resetRequest() {
        head = nil
        route = nil
        body = []
        bodyRemaining = 0
        bodyFilled = nil
        chunkedDecoder = nil
        headStartedAt = nil
        record = nil
        discarding = nil
    }
}
