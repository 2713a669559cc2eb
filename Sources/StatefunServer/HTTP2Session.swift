// HTTP/2 on one connection, through libnghttp2: framing, HPACK, flow control,
// stream states and protocol errors are nghttp2's; requests, routes, limits
// and responses are ours. nghttp2 calls back into Swift (`@convention(c)`
// closures below) with `user_data` pointing at the HTTP2Session.
import CNghttp2
import Glibc

/// The client connection preface: what a prior-knowledge HTTP/2 client sends first.
let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

/// One request stream.
final class HTTP2Stream {
    enum State {
        /// Receiving the header block.
        case headers
        /// Receiving DATA frames.
        case body
        /// The route handler is running.
        case handling
        /// A response was submitted (by the handler, or by the server rejecting the request).
        case answered
    }

    let id: Int32
    // Only the loop's thread touches a stream: no dynamic exclusivity checks.
    @exclusivity(unchecked) var state = State.headers
    @exclusivity(unchecked) var method = ""
    /// The `:path` before any `?`, and the query after it.
    @exclusivity(unchecked) var path = ""
    @exclusivity(unchecked) var query: String?
    @exclusivity(unchecked) var authority: String?
    @exclusivity(unchecked) var headers: [(name: String, value: String)] = []
    /// `headers[0]` is a `host` field made from `:authority` (until a `host` field comes).
    @exclusivity(unchecked) var hostFromAuthority = false
    @exclusivity(unchecked) var sawHost = false
    @exclusivity(unchecked) var headerListSize = 0
    @exclusivity(unchecked) var headersTooLarge = false
    @exclusivity(unchecked) var body: [UInt8] = []
    /// The task running the handler, cancelled if the client resets the stream,
    /// the connection goes, or the request's time runs out.
    @exclusivity(unchecked) var handlerTask: Task<Void, Never>?
    /// When the handler started (monotonic ns), for the request timeout.
    @exclusivity(unchecked) var handlingSince: UInt64 = 0
    /// The `content-length` the client declared (nghttp2 checks the body against it).
    @exclusivity(unchecked) var declaredLength: Int?
    @exclusivity(unchecked) var sawContentLength = false
    /// Body bytes received, kept or not.
    @exclusivity(unchecked) var receivedLength = 0
    /// Body bytes acknowledged with a stream-level WINDOW_UPDATE.
    @exclusivity(unchecked) var windowAcknowledged = 0
    /// The declared body bytes still to come, counted in the session's ``HTTP2Session/demand``.
    @exclusivity(unchecked) var demand = 0
    /// The size of the body its handler holds (counted in the session's `held`).
    @exclusivity(unchecked) var handlerBytes = 0
    @exclusivity(unchecked) var route: Route?
    /// The client sent END_STREAM.
    @exclusivity(unchecked) var requestComplete = false
    @exclusivity(unchecked) var record: RequestRecord?
    @exclusivity(unchecked) var responseBody: [UInt8] = []
    @exclusivity(unchecked) var responseOffset = 0
    /// When the stream last moved (opened, body bytes in, response bytes out):
    /// a stream that stops moving is timed out even while the client keeps the connection busy.
    @exclusivity(unchecked) var lastProgress: UInt64

    init(id: Int32, now: UInt64) {
        self.id = id
        self.lastProgress = now
    }
}

/// The HTTP/2 side of a ``Connection``. Owned by, and only touched on, its event loop's thread.
final class HTTP2Session {
    private(set) var session: OpaquePointer!
    // Unsafe unowned: no reference counting on each use. The connection owns
    // this session and the loop owns the connection, and nothing else keeps a
    // session, so both outlive it.
    unowned(unsafe) let loop: EventLoop
    unowned(unsafe) let connection: Connection
    @exclusivity(unchecked) private(set) var streams: [Int32: HTTP2Stream] = [:]
    /// The stream looked up last: a request's callbacks (its header fields,
    /// the end of its headers, its body) come one after another for one stream.
    @exclusivity(unchecked) private var lastStream: HTTP2Stream?
    /// Streams whose handler is running.
    @exclusivity(unchecked) private(set) var handlersRunning = 0
    /// Streams the client reset while their handler ran: the handler task still
    /// runs (and holds its memory) until it returns. Counted against
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` with the running ones, so a client
    /// opening and resetting streams in a loop (CVE-2023-44487, "rapid reset")
    /// cannot start more handlers than that at once.
    /// The size of each one's body, still held by its handler (counted in `held`).
    @exclusivity(unchecked) private var orphanedHandlers: [Int32: Int] = [:]
    @exclusivity(unchecked) private var refusedForOrphans = false
    /// Requests whose handlers run synchronously, completed by the last input,
    /// answered after nghttp2 has returned; the first `nextReadyRequest` are done.
    @exclusivity(unchecked) private var readyRequests: [(id: Int32, route: Route, request: ServerRequest)] = []
    @exclusivity(unchecked) private var nextReadyRequest = 0
    /// The last `:path` read and its path and query, reused while clients post to one path.
    @exclusivity(unchecked) private var lastTarget: (bytes: [UInt8], path: String, query: String?) = ([], "", nil)

    private enum Shutdown {
        case none
        /// GOAWAY(2^31-1) and a PING sent; the final GOAWAY follows the PING's ACK.
        case noticeSent(at: UInt64)
        case goawaySent
    }

    @exclusivity(unchecked) private var shutdown = Shutdown.none

    // Request-body memory (BodyMemoryBudget). The connection-level receive window
    // is ours (nghttp2's automatic WINDOW_UPDATEs are off): it starts at the
    // protocol's 65,535 bytes and widens only as far as memory is reserved for,
    // so `held + window - 65,535 <= reserved` at all times.
    /// Body bytes held: in streams' bodies, and in the requests of running handlers.
    @exclusivity(unchecked) private var held = 0
    /// Bytes reserved from the server's budget.
    @exclusivity(unchecked) private var reserved = 0
    /// The declared body bytes still to come on streams receiving their bodies.
    @exclusivity(unchecked) private var demand = 0
    /// Since when the window has been narrower than the streams need for want of memory.
    @exclusivity(unchecked) private var memoryWaitSince: UInt64?
    /// Empty DATA frames without END_STREAM in a row (a flood: ``maxConsecutiveEmptyData``).
    @exclusivity(unchecked) private var consecutiveEmptyData = 0
    /// More empty DATA frames in a row than this end the connection with
    /// GOAWAY(ENHANCE_YOUR_CALM): they cost the server work and carry nothing.
    static let maxConsecutiveEmptyData = 100
    private var windowCap: Int {
        min(max(configuration.http2.connectionWindowSize, BodyMemoryBudget.perConnectionAllowance), Int(Int32.max))
    }
    private static let shutdownPing: [UInt8] = Array("shutdown".utf8)

    private var configuration: HTTPServerConfiguration { loop.context.configuration }

    /// Starts the session: our SETTINGS and connection window are queued. For an
    /// HTTP/1.1 `Upgrade: h2c`, `upgrade` carries the decoded `HTTP2-Settings`
    /// payload, and stream 1 is opened half-closed for the request already read.
    init(connection: Connection, loop: EventLoop, upgrade: (settings: [UInt8], headRequest: Bool)? = nil) throws(HTTPServerError) {
        self.connection = connection
        self.loop = loop

        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw HTTPServerError(.system, "nghttp2_session_callbacks_new failed")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkRecv)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks, onInvalidFrameRecv)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            throw HTTPServerError(.system, "nghttp2_option_new failed")
        }
        defer { nghttp2_option_del(option) }
        // Refuse a peer that keeps us busy answering SETTINGS/PING (flood protection).
        nghttp2_option_set_max_outbound_ack(option, 1000)
        nghttp2_option_set_max_settings(option, 32)
        // The connection window is widened by replenishWindow, as far as memory allows.
        nghttp2_option_set_no_auto_window_update(option, 1)

        var created: OpaquePointer?
        let userData = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_server_new2(&created, callbacks, userData, option) == 0, let created else {
            throw HTTPServerError(.system, "nghttp2_session_server_new2 failed")
        }
        session = created

        let http2 = configuration.http2
        let settings = [
            (NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, http2.maxConcurrentStreams),
            (NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, min(max(http2.initialStreamWindowSize, 65535), Int(Int32.max))),
            (NGHTTP2_SETTINGS_MAX_FRAME_SIZE, min(max(http2.maxFrameSize, 16384), 16_777_215)),
            (NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, configuration.maxHeaderSize),
        ].map { id, value in
            nghttp2_settings_entry(settings_id: Int32(id.rawValue), value: UInt32(clamping: value))
        }
        var rc = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), settings, settings.count)
        if rc == 0, let upgrade {
            rc = upgrade.settings.withUnsafeBufferPointer { payload in
                nghttp2_session_upgrade2(session, payload.baseAddress, payload.count, upgrade.headRequest ? 1 : 0, nil)
            }
        }
        if rc != 0 {
            nghttp2_session_del(session)
            session = nil
            throw HTTPServerError(.system, "cannot start the HTTP/2 session: \(nghttp2Error(rc))")
        }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: - Input and output

    /// Feeds bytes read from the socket. Returns false on a fatal session error
    /// (the connection must be closed once any GOAWAY queued is written).
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return true }
        let rc = nghttp2_session_mem_recv(
            session, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count)
        if rc < 0 {
            loop.logger.notice(
                "HTTP/2 connection failed",
                metadata: ["peer": "\(connection.peerDescription)", "error": "\(nghttp2Error(Int32(rc)))"])
            return false
        }
        return true
    }

    /// Serializes queued frames, up to about `limit` bytes. Nil on a fatal error.
    func produce(limit: Int) -> [UInt8]? {
        var output: [UInt8] = []
        while output.count < limit {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 {
                loop.logger.notice(
                    "HTTP/2 connection failed",
                    metadata: ["peer": "\(connection.peerDescription)", "error": "\(nghttp2Error(Int32(n)))"])
                return nil
            }
            guard n > 0, let data else { break }
            if output.isEmpty { output.reserveCapacity(min(limit + 65536, max(n, 16 * 1024))) }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        return output
    }

    /// True when the session is over: nghttp2 wants neither to read nor to write.
    var isFinished: Bool {
        nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    }

    // MARK: - Shutdown and timeouts

    /// Graceful shutdown (RFC 9113 §6.8): GOAWAY with the largest stream id and a
    /// PING; when the PING comes back (one round trip: every stream the client
    /// sent before it saw the notice has arrived), a GOAWAY naming the last
    /// stream we took. Streams up to it finish; the connection closes when they have.
    func beginShutdown(now: UInt64) {
        guard case .none = shutdown else { return }
        nghttp2_submit_shutdown_notice(session)
        Self.shutdownPing.withUnsafeBufferPointer { _ = nghttp2_submit_ping(session, 0, $0.baseAddress) }
        shutdown = .noticeSent(at: now)
    }

    private func sendFinalGoaway() {
        if case .goawaySent = shutdown { return }
        shutdown = .goawaySent
        nghttp2_submit_goaway(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
            NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    /// Ends an idle session with GOAWAY(NO_ERROR).
    func closeIdle() {
        nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR.rawValue)
        shutdown = .goawaySent
    }

    /// Periodic checks: the shutdown PING that never came back, stalled request
    /// bodies, responses the client's flow-control window holds back for too
    /// long. Per stream: a client keeping the connection busy (PINGs, other
    /// streams) cannot keep a stalled stream open forever.
    func sweep(now: UInt64) {
        if case .noticeSent(let at) = shutdown, now - at > 1_000_000_000 { sendFinalGoaway() }
        if let timeout = loop.context.requestTimeout {
            for stream in streams.values where stream.state == .handling && now - stream.handlingSince > timeout {
                guard let task = stream.handlerTask.take() else { continue }
                task.cancel()
                loop.logger.notice(
                    "request timed out; cancelling its handler",
                    metadata: ["peer": "\(connection.peerDescription)", "stream": "\(stream.id)"])
            }
        }
        let idleTimeout = loop.context.idleTimeout
        shedForMemory(now: now)
        for stream in Array(streams.values) where now - stream.lastProgress > idleTimeout {
            switch stream.state {
            case .headers, .body:
                stream.lastProgress = now
                reject(stream, HTTPError(408, "request body stalled for \(configuration.idleTimeout)"))
            case .answered:
                // The response (or the rest of the request we answered early) is stuck.
                stream.lastProgress = now
                loop.logger.notice(
                    "HTTP/2 stream made no progress (the client's window stays closed, or it stopped sending); resetting it",
                    metadata: ["peer": "\(connection.peerDescription)", "stream": "\(stream.id)"])
                nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, NGHTTP2_CANCEL.rawValue)
            case .handling:
                break
            }
        }
    }

    // MARK: - Requests

    @inline(__always) private func stream(_ id: Int32) -> HTTP2Stream? {
        if let last = lastStream, last.id == id { return last }
        let found = streams[id]
        if found != nil { lastStream = found }
        return found
    }

    fileprivate func beginHeaders(_ id: Int32) {
        let stream = HTTP2Stream(id: id, now: loop.now)
        streams[id] = stream
        lastStream = stream
    }

    fileprivate func header(_ id: Int32, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        guard let stream = stream(id), stream.state == .headers else { return }
        stream.headerListSize += name.count + value.count + 32
        if stream.headerListSize > configuration.maxHeaderSize { stream.headersTooLarge = true }
        if stream.headersTooLarge { return }
        // nghttp2 has checked the fields: names are lowercase; pseudo-headers
        // are known, come once each and before the regular fields.
        if name.first == UInt8(ascii: ":") {
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
    private func setTarget(_ stream: HTTP2Stream, _ bytes: UnsafeBufferPointer<UInt8>) {
        let same = lastTarget.bytes.count == bytes.count
            && lastTarget.bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
        if !same {
            if let mark = bytes.firstIndex(of: UInt8(ascii: "?")) {
                lastTarget = (
                    Array(bytes), makeString(UnsafeBufferPointer(rebasing: bytes[..<mark])),
                    makeString(UnsafeBufferPointer(rebasing: bytes[(mark + 1)...]))
                )
            } else {
                lastTarget = (Array(bytes), makeString(bytes), nil)
            }
        }
        stream.path = lastTarget.path
        stream.query = lastTarget.query
    }

    /// The header block is complete: route the request and check its declared size.
    fileprivate func headersComplete(_ id: Int32) {
        guard let stream = stream(id), stream.state == .headers else { return }
        stream.state = .body
        let path = stream.path
        stream.record = RequestRecord(
            method: stream.method, path: path, routePath: "unmatched", protocolName: "HTTP/2",
            peer: connection.peerDescription, startedAt: loop.now)
        if stream.headersTooLarge {
            reject(stream, HTTPError(431, "request header list exceeds the limit of \(configuration.maxHeaderSize) bytes"))
            return
        }
        switch loop.dispatcher.admit(method: stream.method, path: path, declaredLength: stream.declaredLength) {
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

    fileprivate func data(_ id: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        guard let stream = stream(id) else { return }
        stream.receivedLength += bytes.count
        stream.lastProgress = loop.now
        // Stream-level window: the connection's is the one that bounds memory.
        let unacknowledged = stream.receivedLength - stream.windowAcknowledged
        if unacknowledged * 2 >= configuration.http2.initialStreamWindowSize {
            stream.windowAcknowledged = stream.receivedLength
            nghttp2_submit_window_update(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, Int32(clamping: unacknowledged))
        }
        guard stream.state == .body else { return }  // answered early: discarded
        if stream.demand > 0 { setDemand(stream, max(0, stream.demand - bytes.count)) }
        if stream.body.count + bytes.count > configuration.maxBodySize
            || stream.body.count + bytes.count > loop.context.bodyMemory.limit + BodyMemoryBudget.perConnectionAllowance
        {
            dropBody(stream)
            reject(stream, HTTPError(413, "request body exceeds the limit of \(min(configuration.maxBodySize, loop.context.bodyMemory.limit)) bytes"))
            return
        }
        if stream.body.isEmpty {
            stream.body.reserveCapacity(stream.declaredLength ?? min(configuration.maxBodySize, max(bytes.count, 64 * 1024)))
        }
        stream.body.append(contentsOf: bytes)
        held += bytes.count
    }

    /// Counts an empty DATA frame without END_STREAM; false once they are a flood.
    fileprivate func emptyData() -> Bool {
        consecutiveEmptyData += 1
        guard consecutiveEmptyData > Self.maxConsecutiveEmptyData else { return true }
        loop.logger.notice(
            "HTTP/2 flood of empty DATA frames; sending GOAWAY(ENHANCE_YOUR_CALM)",
            metadata: ["peer": "\(connection.peerDescription)", "frames": "\(consecutiveEmptyData)"])
        nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        return false
    }

    fileprivate func nonEmptyData() {
        consecutiveEmptyData = 0
    }

    // MARK: - Body memory

    private func setDemand(_ stream: HTTP2Stream, _ value: Int) {
        demand += value - stream.demand
        stream.demand = value
    }

    private func dropBody(_ stream: HTTP2Stream) {
        held -= stream.body.count
        stream.body = []
    }

    /// Widens the connection's receive window towards what its streams have
    /// declared (at least the protocol's 65,535 bytes, at most the configured
    /// window) as far as the server's body memory allows, and gives back
    /// memory no longer needed. Short of memory, the connection waits for a
    /// release (``EventLoop/registerMemoryWaiter(_:)``). Called before each write.
    func replenishWindow() {
        let base = BodyMemoryBudget.perConnectionAllowance
        let available = Int(nghttp2_session_get_local_window_size(session))
        let desired = min(windowCap, base + demand)
        var increment = desired - available
        // As nghttp2 does: no update before half the window is used.
        if increment * 2 < desired { increment = 0 }
        let needed = max(0, held + available + increment - base)
        if needed > reserved {
            let budget = loop.context.bodyMemory
            reserved += budget.reserve(upTo: needed - reserved)
            let shortfall = needed - reserved
            if shortfall > 0 {
                increment = max(0, increment - shortfall)
                if memoryWaitSince == nil {
                    memoryWaitSince = loop.now
                    budget.countWaiter(1)
                }
                loop.registerMemoryWaiter(connection)
            } else {
                memoryAdmitted()
            }
        } else {
            memoryAdmitted()
        }
        if increment > 0 {
            nghttp2_submit_window_update(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(increment))
        }
        let wanted = max(0, held + available + increment - base)
        if reserved > wanted {
            loop.context.bodyMemory.release(reserved - wanted)
            reserved = wanted
        }
    }

    private func memoryAdmitted() {
        guard memoryWaitSince != nil else { return }
        memoryWaitSince = nil
        loop.context.bodyMemory.countWaiter(-1)
    }

    /// While bodies wait for memory: sheds, with 503 and `Retry-After`, the
    /// streams receiving a body that made no progress for
    /// ``HTTPServerConfiguration/bodyMemoryWait`` (starved of window, or stalled holding memory).
    private func shedForMemory(now: UInt64) {
        let budget = loop.context.bodyMemory
        guard budget.underPressure else { return }
        let wait = loop.context.bodyMemoryWait
        for stream in Array(streams.values) where stream.state == .body && now - stream.lastProgress > wait {
            stream.lastProgress = now
            reject(
                stream,
                HTTPError(
                    503,
                    "request body made no progress for \(configuration.bodyMemoryWait) while bodies waited for memory (the server's body memory is \(budget.limit) bytes)"),
                extraHeaders: [(name: "retry-after", value: bodyMemoryRetryAfter)])
        }
    }

    /// The connection is closed: its memory goes back to the budget.
    func connectionClosed() {
        clientWentAway()
        memoryAdmitted()
        held = 0
        demand = 0
        if reserved > 0 {
            loop.context.bodyMemory.release(reserved)
            reserved = 0
        }
    }

    /// The client closed the connection (or it is closed): the running handlers' tasks are cancelled.
    func clientWentAway() {
        for stream in streams.values where stream.state == .handling { stream.handlerTask.take()?.cancel() }
    }

    /// END_STREAM from the client: the request is complete; run its handler.
    fileprivate func requestComplete(_ id: Int32) {
        guard let stream = stream(id) else { return }
        stream.requestComplete = true
        guard stream.state == .body, let route = stream.route, var record = stream.record else { return }
        if handlersRunning + orphanedHandlers.count >= configuration.http2.maxConcurrentStreams {
            // Only reachable when reset streams' handlers are still running: refuse (safe to retry).
            if !refusedForOrphans {
                refusedForOrphans = true
                loop.logger.notice(
                    "refusing HTTP/2 streams: the handlers of streams the client reset are still running",
                    metadata: ["peer": "\(connection.peerDescription)", "orphaned": "\(orphanedHandlers.count)"])
            }
            stream.state = .answered
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_REFUSED_STREAM.rawValue)
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
            headers: HTTPHeaders(stream.headers), body: stream.body, peer: connection.peerDescription)
        stream.body = []
        stream.headers = []
        if loop.dispatcher.answersSynchronously(route) {
            // Answered once nghttp2 has returned (answerReadyRequests), not inside its callback.
            readyRequests.append((id, route, request))
            return
        }
        stream.handlingSince = loop.now
        if let response = loop.dispatcher.start(
            route, request, replyTo: loop, connection: connection.id, stream: id, task: &stream.handlerTask)
        {
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
            handlerFinished(id, loop.dispatcher.answerSynchronously(route, request))
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

    /// Opens the record of stream 1 after an `Upgrade: h2c`: its request was read
    /// over HTTP/1.1 and its handler is about to run.
    func adoptUpgradedRequest(_ record: RequestRecord) {
        let stream = HTTP2Stream(id: 1, now: loop.now)
        stream.state = .handling
        stream.requestComplete = true
        stream.record = record
        stream.method = record.method
        stream.path = record.path
        streams[1] = stream
        lastStream = stream
        handlersRunning += 1
        stream.handlingSince = loop.now
    }

    /// The task of the upgraded request's handler (stream 1).
    func adoptUpgradedHandlerTask(_ task: Task<Void, Never>?) {
        streams[1]?.handlerTask = task
    }

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

    private func reject(
        _ stream: HTTP2Stream, _ error: HTTPError, extraHeaders: [(name: String, value: String)] = []
    ) {
        var response = ServerResponse.text(error.status, error.message + "\n")
        response.headers.append(contentsOf: extraHeaders)
        if stream.state == .handling { handlersRunning -= 1 }
        answer(stream, response, rejection: error)
    }

    /// Submits `response` on `stream` (HEADERS, then DATA from the body unless it is empty or HEAD).
    private func answer(_ stream: HTTP2Stream, _ response: ServerResponse, rejection: HTTPError?) {
        stream.state = .answered
        dropBody(stream)
        setDemand(stream, 0)
        held -= stream.handlerBytes
        stream.handlerBytes = 0
        var problems: [ResponseProblem] = []
        let status = ResponseValidation.status(of: response, problems: &problems)
        let bodyAllowed = ResponseValidation.allowsBody(status)
        let sendBody = bodyAllowed && stream.method != "HEAD" && !response.body.isEmpty
        let fields = loop.encodeHTTP2ResponseFields(response.headers, problems: &problems)
        if !problems.isEmpty { loop.requestLog.report(problems, path: stream.path) }
        if sendBody { stream.responseBody = response.body }

        let rc = submit(
            stream.id, status: status, fields: fields,
            contentLength: status == 204 ? nil : (bodyAllowed ? response.body.count : 0), withBody: sendBody)
        if rc != 0 {
            loop.logger.error(
                "cannot submit an HTTP/2 response", metadata: ["peer": "\(connection.peerDescription)", "error": "\(nghttp2Error(rc))"])
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, NGHTTP2_INTERNAL_ERROR.rawValue)
        }
        if var record = stream.record {
            record.responseBytes = sendBody ? response.body.count : 0
            loop.requestLog.answered(record, response: response, status: status, rejection: rejection, now: loop.now)
        }
    }

    /// Submits a response's HEADERS: `:status`, the encoded fields, `content-length`
    /// (unless nil) and `date`. No array is built: the pairs point at the
    /// fields' bytes, at digits on the stack and at the cached date; nghttp2
    /// copies them during the call.
    private func submit(_ id: Int32, status: Int, fields: HTTP2Fields, contentLength: Int?, withBody: Bool) -> Int32 {
        let date = loop.currentDateBytes()
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { digits in
            let statusCount = writeDecimal(status, to: digits)
            let lengthDigits = UnsafeMutableBufferPointer(rebasing: digits[statusCount...])
            let lengthCount = contentLength.map { writeDecimal($0, to: lengthDigits) } ?? 0
            return fields.bytes.withUnsafeBufferPointer { fieldBytes in
                date.withUnsafeBufferPointer { date in
                    withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: fields.spans.count + 3) { nva in
                        var count = 0
                        func add(_ name: UnsafePointer<UInt8>, _ nameLength: Int, _ value: UnsafePointer<UInt8>, _ valueLength: Int) {
                            nva[count] = nghttp2_nv(
                                name: UnsafeMutablePointer(mutating: name), value: UnsafeMutablePointer(mutating: value),
                                namelen: nameLength, valuelen: valueLength, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
                            count += 1
                        }
                        add(h2Status.utf8Start, h2Status.utf8CodeUnitCount, digits.baseAddress!, statusCount)
                        if let base = fieldBytes.baseAddress {
                            for span in fields.spans {
                                add(base + span.name.lowerBound, span.name.count, base + span.value.lowerBound, span.value.count)
                            }
                        }
                        if contentLength != nil {
                            add(
                                h2ContentLength.utf8Start, h2ContentLength.utf8CodeUnitCount, lengthDigits.baseAddress!,
                                lengthCount)
                        }
                        add(h2Date.utf8Start, h2Date.utf8CodeUnitCount, date.baseAddress!, date.count)
                        if withBody {
                            var provider = nghttp2_data_provider(
                                source: nghttp2_data_source(ptr: nil), read_callback: readResponseBody)
                            return nghttp2_submit_response(session, id, nva.baseAddress, count, &provider)
                        }
                        return nghttp2_submit_response(session, id, nva.baseAddress, count, nil)
                    }
                }
            }
        }
    }

    fileprivate func readBody(_ id: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = stream(id) else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let n = min(length, stream.responseBody.count - stream.responseOffset)
        stream.lastProgress = loop.now
        if n > 0 {
            stream.responseBody.withUnsafeBufferPointer { body in
                buffer.update(from: body.baseAddress! + stream.responseOffset, count: n)
            }
            stream.responseOffset += n
        }
        if stream.responseOffset == stream.responseBody.count {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            stream.responseBody = []
            stream.responseOffset = 0
        }
        return n
    }

    /// The response is complete while the client may still be sending a request
    /// we answered early (404, 413...). If the rest of its body could block on
    /// flow control (more than a window, or of unknown length), ask it to stop
    /// with RST_STREAM(NO_ERROR) (RFC 9113 §8.1). A rest that fits is let through
    /// and discarded: some clients (curl 7.88) fail a request reset mid-upload
    /// even after its whole response arrived.
    fileprivate func responseSent(_ id: Int32) {
        guard let stream = stream(id), !stream.requestComplete else { return }
        if let declared = stream.declaredLength,
            declared - stream.receivedLength <= min(configuration.http2.initialStreamWindowSize, configuration.http2.connectionWindowSize)
        {
            return
        }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_NO_ERROR.rawValue)
    }

    fileprivate func streamClosed(_ id: Int32, errorCode: UInt32) {
        if lastStream?.id == id { lastStream = nil }
        guard let stream = streams.removeValue(forKey: id) else { return }
        dropBody(stream)
        setDemand(stream, 0)
        if stream.state == .handling {
            stream.handlerTask.take()?.cancel()
            handlersRunning -= 1
            orphanedHandlers[id] = stream.handlerBytes
            loop.logger.debug(
                "client reset a stream whose handler is running; its response will be dropped",
                metadata: ["peer": "\(connection.peerDescription)", "stream": "\(id)", "error": "\(http2ErrorName(errorCode))"])
        }
    }

    fileprivate func pingAcknowledged(_ opaque: UnsafeRawBufferPointer) {
        guard case .noticeSent = shutdown, opaque.elementsEqual(Self.shutdownPing) else { return }
        sendFinalGoaway()
    }

    fileprivate func goawaySent(errorCode: UInt32, lastStreamID: Int32) {
        if errorCode != NGHTTP2_NO_ERROR.rawValue {
            loop.logger.notice(
                "HTTP/2 connection error; sent GOAWAY",
                metadata: [
                    "peer": "\(connection.peerDescription)", "error": "\(http2ErrorName(errorCode))",
                    "lastStream": "\(lastStreamID)",
                ])
        }
    }

    fileprivate func invalidFrame(_ type: UInt8, stream: Int32, error: Int32) {
        loop.logger.debug(
            "invalid HTTP/2 frame",
            metadata: [
                "peer": "\(connection.peerDescription)", "type": "\(type)", "stream": "\(stream)",
                "error": "\(nghttp2Error(error))",
            ])
    }
}

func nghttp2Error(_ code: Int32) -> String {
    "\(String(cString: nghttp2_strerror(code))) (\(code))"
}

func http2ErrorName(_ code: UInt32) -> String {
    String(cString: nghttp2_http2_strerror(code))
}

// MARK: - Callbacks

private func sessionFrom(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session {
    Unmanaged<HTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
}

private let h2Status: StaticString = ":status"
private let h2ContentLength: StaticString = "content-length"
private let h2Date: StaticString = "date"

private let frameHEADERS = UInt8(NGHTTP2_HEADERS.rawValue)
private let frameDATA = UInt8(NGHTTP2_DATA.rawValue)
private let framePING = UInt8(NGHTTP2_PING.rawValue)
private let frameGOAWAY = UInt8(NGHTTP2_GOAWAY.rawValue)
private let flagEndStream = UInt8(NGHTTP2_FLAG_END_STREAM.rawValue)
private let flagACK = UInt8(NGHTTP2_FLAG_ACK.rawValue)

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    let frame = frame!.pointee
    if frame.hd.type == frameHEADERS && frame.headers.cat == NGHTTP2_HCAT_REQUEST {
        sessionFrom(userData).beginHeaders(frame.hd.stream_id)
    }
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    let frame = frame!.pointee
    guard frame.hd.type == frameHEADERS && frame.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
    sessionFrom(userData).header(
        frame.hd.stream_id, name: UnsafeBufferPointer(start: name, count: nameLength),
        value: UnsafeBufferPointer(start: value, count: valueLength))
    return 0
}

private let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    let session = sessionFrom(userData)
    let frame = frame!.pointee
    let endStream = frame.hd.flags & flagEndStream != 0
    switch frame.hd.type {
    case frameHEADERS:
        if frame.headers.cat == NGHTTP2_HCAT_REQUEST { session.headersComplete(frame.hd.stream_id) }
        if endStream { session.requestComplete(frame.hd.stream_id) }
    case frameDATA:
        if endStream {
            session.requestComplete(frame.hd.stream_id)
        } else if frame.hd.length == 0 {
            if !session.emptyData() { return Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        } else {
            session.nonEmptyData()
        }
    case framePING:
        if frame.hd.flags & flagACK != 0 {
            var data = frame.ping.opaque_data
            withUnsafeBytes(of: &data) { session.pingAcknowledged($0) }
        }
    default:
        break
    }
    return 0
}

private let onDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    sessionFrom(userData).data(streamID, UnsafeBufferPointer(start: data, count: length))
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    sessionFrom(userData).streamClosed(streamID, errorCode: errorCode)
    return 0
}

private let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
    let session = sessionFrom(userData)
    let frame = frame!.pointee
    switch frame.hd.type {
    case frameHEADERS, frameDATA:
        if frame.hd.flags & flagEndStream != 0 { session.responseSent(frame.hd.stream_id) }
    case frameGOAWAY:
        session.goawaySent(errorCode: frame.goaway.error_code, lastStreamID: frame.goaway.last_stream_id)
    default:
        break
    }
    return 0
}

private let onInvalidFrameRecv: nghttp2_on_invalid_frame_recv_callback = { _, frame, error, userData in
    let frame = frame!.pointee
    sessionFrom(userData).invalidFrame(frame.hd.type, stream: frame.hd.stream_id, error: error)
    return 0
}

private let readResponseBody: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
    sessionFrom(userData).readBody(streamID, into: buffer!, length: length, flags: flags!)
}
