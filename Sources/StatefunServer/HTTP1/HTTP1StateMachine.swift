/// One HTTP/1.1 connection's protocol, as a plain value: bytes and events in,
/// ``HTTP1Action``s out. It holds the input buffer, the request being read and
/// the connection's keep-alive state; it owns no socket, no timer and no loop,
/// so it is tested by feeding it bytes (HTTP1StateMachineTests). Its driver
/// (``HTTP1Driver``) feeds it what the event loop reads and carries out its actions.
///
/// Requests are read one at a time: once a request is dispatched (or rejected),
/// nothing more is parsed until its response is written
/// (``responseWritten(now:)``), so pipelined requests are answered in order.
///
/// Zero-copy paths: a head that arrives whole in one read is parsed where it
/// was read (``received(_:now:admission:)``), and the bytes of a fixed-length
/// body that came with it go straight into the body; a body up to
/// ``wholeBodyLimit`` is allocated whole and read into directly (``nextRead()``);
/// after a body of ``largeBody`` bytes, the next head is read on its own, so
/// its body is again read directly rather than copied.
struct HTTP1StateMachine {
    enum State: Equatable {
        /// Waiting for (the rest of) a request head; idle if nothing is buffered.
        case head
        /// Reading the body of the current request (or discarding it: ``discarding``).
        case body
        /// The request's handler is running; nothing is read meanwhile.
        case handling
        /// The response is being written; nothing is read meanwhile.
        case responding
        /// The connection is not HTTP/1.1 any more (closing, or switched to HTTP/2).
        case done
    }

    /// Fixed-length bodies up to this size are allocated whole when their first
    /// bytes arrive and read into directly; larger ones grow as they arrive.
    static let wholeBodyLimit = 256 * 1024
    /// A body this large makes the connection read its next head on its own, in
    /// a read of `headReadAfterLargeBody` bytes: one more `read` saves a copy of the body.
    static let largeBody = 32 * 1024
    static let headReadAfterLargeBody = 4096

    let limits: HTTP1Limits
    /// The server's bound on body memory (``BodyMemoryBudget``).
    let budget: BodyMemoryBudget
    var state = State.head

    // Input.
    var inbound: [UInt8] = []
    /// Bytes before this index are consumed.
    var inboundStart = 0
    /// Where the head scan resumes (bytes before were checked already).
    var scanResume = 0
    /// When the first byte of the current request head arrived.
    var headStartedAt: UInt64?
    /// The latest time an input brought (monotonic ns).
    var now: UInt64
    /// When bytes last arrived (or a response was written).
    private(set) var lastActivity: UInt64
    /// The client shut down its sending side.
    private(set) var peerClosed = false
    /// Until the first request head: the input may still turn out to be the HTTP/2 preface.
    private(set) var mayBePreface: Bool
    /// The server is shutting down: every response closes its connection, and no upgrade is taken.
    var draining = false
    var closeAfterResponse = false

    // The request being read.
    var head: ParsedHead?
    var route: Route?
    var record: RequestRecord?
    var body: [UInt8] = []
    var bodyRemaining = 0
    /// A body allocated whole (`body.count` is then the declared length):
    /// `bodyFilled` bytes of it have arrived. Otherwise `body` grows as bytes
    /// arrive and this is `nil`.
    var bodyFilled: Int?
    var chunkedDecoder: ChunkedDecoder?
    /// The body of a request answered without a handler (404, 405) is read and
    /// dropped, then this answer is sent and the connection kept.
    var discarding: HTTP1Rejection?
    /// The last request head, to parse a repeat of it by comparison.
    var headCache = HeadCache()
    /// The last request had a fixed-length body of at least ``largeBody`` bytes.
    private(set) var sentLargeBody = false
    /// How the response to the request being handled is framed (set when it is dispatched).
    private var responseFraming = (http10: false, headRequest: false)

    // Body memory (HTTP1StateMachine+Body.swift).
    /// Bytes of the server's body-memory bound the current body holds: what it has beyond the allowance.
    var bodyReserved = 0
    /// The body needs memory the bound has not got: the connection is not read meanwhile.
    var memoryBlocked = false
    /// Since when the body has been waiting for memory (nil: it is not), for the shed deadline.
    var memoryWaitSince: UInt64?
    /// The machine began waiting for memory since the driver last asked (``takeMemoryWait()``).
    var memoryWaitBegan = false

    init(limits: HTTP1Limits, budget: BodyMemoryBudget, now: UInt64) {
        self.limits = limits
        self.budget = budget
        self.mayBePreface = limits.http2
        self.lastActivity = now
        self.now = now
    }

    var hasBufferedInput: Bool { inboundStart < inbound.count }

    /// Whether the connection is to be read now (``nextRead(now:)`` may still say not, short of memory).
    var wantsInput: Bool { (state == .head || state == .body) && !peerClosed && !memoryBlocked }

    /// No request is under way and nothing is buffered: the connection may be closed without losing one.
    var isIdle: Bool { state == .head && headStartedAt == nil && !hasBufferedInput }

    // MARK: - Reading

    /// Where to read next, and how much.
    mutating func nextRead(now: UInt64) -> ConnectionRead {
        self.now = now
        switch state {
        case .head:
            guard !peerClosed else { return .none }
            compactInbound()
            return .buffer(limit: sentLargeBody && !hasBufferedInput ? Self.headReadAfterLargeBody : .max)
        case .body:
            guard !peerClosed, !memoryBlocked else { return .none }
            compactInbound()
            guard bodyFilled != nil, bodyRemaining > 0, !hasBufferedInput else { return .buffer(limit: .max) }
            // A body allocated whole is read into directly, never past its end.
            switch admitBody(bodyRemaining) {
            case .rejected, .admitted(0): return .none
            case .admitted: break
            }
            allocateWholeBody()
            return .direct(count: bodyRemaining)
        case .handling, .responding, .done:
            return .none
        }
    }

    /// Lends the unfilled part of the body being read directly (``ConnectionRead/direct(count:)``).
    mutating func withDirectSpace<R>(_ read: (inout MutableRawSpan) -> R) -> R {
        let filled = bodyFilled ?? 0
        return body.withMutableBytes(in: filled..<(filled + bodyRemaining), read)
    }

    /// `count` bytes were read into ``withDirectSpace(_:)``.
    mutating func directRead<A: RequestAdmitting>(_ count: Int, now: UInt64, admission: A) -> HTTP1Action {
        lastActivity = now
        bodyFilled = (bodyFilled ?? 0) + count
        bodyRemaining -= count
        return process(now: now, admission: admission)
    }

    /// Bytes read from the connection.
    @inline(__always)
    mutating func received<A: RequestAdmitting>(_ input: RawSpan, now: UInt64, admission: A) -> HTTP1Action {
        input.withByteSpan { received(bytes: $0, now: now, admission: admission) }
    }

    mutating func received<A: RequestAdmitting>(bytes input: Span<UInt8>, now: UInt64, admission: A) -> HTTP1Action {
        lastActivity = now
        self.now = now
        var bytes = input
        // Fast path: a read that holds a whole request head is parsed where it
        // was read. The bytes of a fixed-length body that came with it go
        // straight into the body; nothing is buffered.
        if state == .head && !hasBufferedInput && !mayBePreface,
            case .head(let head, _, let end) = headStep(bytes, start: 0, resume: 0)
        {
            headStartedAt = nil
            guard head.hasBody && !head.chunked && !head.expectContinue else {
                // Buffered with the head already consumed, then processed as usual.
                let base = inbound.count
                inbound.append(copying: bytes)
                inboundStart = base + end
                scanResume = base + end
                if let action = beginRequest(head, now: now, admission: admission) { return action }
                return process(now: now, admission: admission)
            }
            if let action = beginRequest(head, now: now, admission: admission) { return action }
            bytes = bytes.extracting(end..<bytes.count)
        }
        // Bytes of a fixed-length body go straight into the body.
        if state == .body && chunkedDecoder == nil && !hasBufferedInput {
            switch admitBody(min(bytes.count, bodyRemaining)) {
            case .rejected(let action): return action
            case .admitted(let n):
                appendBody(bytes.extracting(0..<n))
                bytes = bytes.extracting(n..<bytes.count)
            }
        }
        if !bytes.isEmpty { inbound.append(copying: bytes) }
        return process(now: now, admission: admission)
    }

    /// The client shut down its sending side (a read returned 0).
    mutating func peerClosedInput() -> HTTP1Action {
        peerClosed = true
        switch state {
        case .head:
            let midHead = hasBufferedInput
            state = .done
            return .close(midHead ? .peerClosedMidHead : .peerClosed)
        case .body:
            state = .done
            return .close(.peerClosedMidBody)
        case .handling, .responding:
            // A half-closed client still gets its response.
            closeAfterResponse = true
            return .none
        case .done:
            return .close(.peerClosed)
        }
    }

    // MARK: - Requests

    /// Advances as far as the buffered input allows: one action.
    mutating func process<A: RequestAdmitting>(now: UInt64, admission: A) -> HTTP1Action {
        self.now = now
        while true {
            switch state {
            case .head:
                guard hasBufferedInput else { return .none }
                if headStartedAt == nil { headStartedAt = now }
                if mayBePreface, let action = checkPreface() { return action }
                let input = inbound
                let step = headStep(input.span, start: inboundStart, resume: scanResume)
                switch step {
                case .needMore(let start, let resume):
                    inboundStart = start
                    scanResume = resume
                    // Only empty lines so far: still idle, not a slow request head.
                    if start == inbound.count { headStartedAt = nil }
                    return .none
                case .failure(let error):
                    return reject(error, now: now)
                case .head(let head, _, let end):
                    inboundStart = end
                    scanResume = end
                    headStartedAt = nil
                    if let action = beginRequest(head, now: now, admission: admission) { return action }
                }
            case .body:
                return chunkedDecoder != nil ? processChunkedBody(now: now) : processFixedBody(now: now)
            case .handling, .responding, .done:
                return .none
            }
        }
    }

    /// While the input may be the HTTP/2 preface: nil once it is not (HTTP/1.1 goes on).
    private mutating func checkPreface() -> HTTP1Action? {
        let start = inboundStart
        let n = min(inbound.count - start, http2Preface.count)
        if !inbound[start..<(start + n)].elementsEqual(http2Preface[0..<n]) {
            if n > http2PrefaceRequestLine
                && inbound[start..<(start + http2PrefaceRequestLine)].elementsEqual(http2Preface[0..<http2PrefaceRequestLine])
            {
                mayBePreface = false
                headStartedAt = nil
                state = .responding
                closeAfterResponse = true
                dropInput()
                return .rejectPreface
            }
            mayBePreface = false
            return nil
        }
        if n < http2Preface.count { return HTTP1Action.none }  // so far a prefix of the preface: wait for the rest
        mayBePreface = false
        headStartedAt = nil
        state = .done
        return .startHTTP2(buffered: takeInput())
    }

    enum HeadStep {
        case needMore(start: Int, resume: Int)
        case head(ParsedHead, start: Int, end: Int)
        case failure(HTTPError)
    }

    /// Looks for a complete request head in `buffer` from `start`, the bytes
    /// before `resume` having been scanned already.
    mutating func headStep(_ buffer: Span<UInt8>, start: Int, resume: Int) -> HeadStep {
        let maxHeaderSize = limits.maxHeaderSize
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
                let head = try headCache.parse(buffer.extracting(start..<end))
                return .head(head, start: start, end: end)
            }
        } catch {
            return .failure(error)
        }
    }

    /// Admits a parsed head (route, limits), then sets up reading its body.
    /// Nil: the body is to be read; else what to do.
    private mutating func beginRequest<A: RequestAdmitting>(
        _ head: consuming ParsedHead, now: UInt64, admission: A
    ) -> HTTP1Action? {
        mayBePreface = false
        record = RequestRecord(
            method: head.method, path: head.path, routePath: "unmatched", protocolName: head.version.string,
            peer: "", startedAt: now)
        switch admission.admit(method: head.method, path: head.path, declaredLength: head.contentLength) {
        case .accepted(let route):
            self.route = route
            record?.routePath = route.path
        case .unrouted(let error, let extraHeaders):
            return rejectKeepingFraming(head, error, extraHeaders: extraHeaders, now: now)
        case .tooLarge(let error):
            return reject(error, now: now)
        }
        closeAfterResponse = !head.keepAlive
        body = []
        bodyFilled = nil
        sentLargeBody = false
        let hasBody = head.hasBody, chunked = head.chunked, contentLength = head.contentLength
        let sendContinue = head.expectContinue && head.version == .http11
        // The head moves here (a copy would retain each of its strings).
        self.head = consume head
        guard hasBody else { return dispatch(now: now) }
        state = .body
        if chunked {
            chunkedDecoder = ChunkedDecoder()
        } else {
            let length = contentLength ?? 0
            bodyRemaining = length
            sentLargeBody = length >= Self.largeBody
            if length <= Self.wholeBodyLimit {
                bodyFilled = 0  // allocated whole when its first bytes arrive (allocateWholeBody)
            } else {
                // Grown towards the declared length as bytes arrive, without trusting it up front.
                body.reserveCapacity(Self.wholeBodyLimit)
            }
        }
        // Only ask for the body if the client is waiting for us to (nothing sent yet).
        if sendContinue && !hasBufferedInput { return .sendContinue }
        return nil
    }

    /// The request is complete: its handler runs (or it upgrades to HTTP/2).
    mutating func dispatch(now: UInt64) -> HTTP1Action {
        // Fields read in place: a copy of the head would retain each of its strings.
        guard let version = head?.version, route != nil else { return .none }
        responseFraming = (http10: version == .http10, headRequest: head?.method == "HEAD")
        state = .handling
        record?.requestBytes = body.count
        if head?.upgrade == true && limits.http2 && !draining, let upgrade = upgrade() { return upgrade }
        return .dispatch
    }

    /// The request asks for `Upgrade: h2c` with valid settings: it is handed to HTTP/2 (else nil).
    private mutating func upgrade() -> HTTP1Action? {
        guard let settings = head.flatMap(h2cUpgradeSettings), let route = route.take(), let head = head.take() else {
            return nil
        }
        var body: [UInt8] = []
        swap(&body, &self.body)
        bodyFilled = nil
        releaseBodyMemory()
        state = .done
        return .upgradeToHTTP2(
            HTTP1Request(route: route, head: head, body: body), settings: settings, buffered: takeInput(),
            record: record.take())
    }

    /// The request a ``HTTP1Action/dispatch`` announced, moved out of the machine
    /// (its head and body are not copied), and the route that takes it.
    mutating func takeRequest(peer: String) -> (route: Route, request: ServerRequest)? {
        guard state == .handling, let head = head.take(), let route = route.take() else { return nil }
        var body: [UInt8] = []
        swap(&body, &self.body)
        bodyFilled = nil
        return (
            route,
            ServerRequest(
                method: head.method, path: head.path, query: head.query, version: head.version.string,
                headers: HTTPHeaders(head.headers), body: body, peer: peer)
        )
    }

    /// The handler answered (status checked, ``ResponseValidation``); `asksClose`:
    /// its fields ask to close the connection. Returns how to frame the response
    /// and the request's record; the driver writes it, then calls ``responseWritten(now:)``.
    mutating func respond(asksClose: Bool) -> (framing: ResponseFraming, record: RequestRecord?) {
        // The handler is done with the body.
        releaseBodyMemory()
        let close = closeAfterResponse || asksClose || peerClosed || draining
        closeAfterResponse = close
        state = .responding
        let record = self.record.take()
        resetRequest()
        return (ResponseFraming(close: close, http10: responseFraming.http10, headRequest: responseFraming.headRequest), record)
    }

    /// The response (or rejection) is written: the connection ends, or reads its next request
    /// (maybe buffered already: pipelining).
    mutating func responseWritten<A: RequestAdmitting>(now: UInt64, admission: A) -> HTTP1Action {
        guard state == .responding else { return .none }
        if closeAfterResponse || peerClosed || draining {
            state = .done
            dropInput()
            return .linger
        }
        state = .head
        lastActivity = now
        let action = process(now: now, admission: admission)
        releaseIdleBuffers()
        return action
    }
}
