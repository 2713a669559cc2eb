// An HTTP/2 cleartext client (prior knowledge, RFC 9113 §3.3) through
// libnghttp2's client session: one connection per endpoint transport carrying
// many concurrent streams, each connection driven by a thread of its own with
// non-blocking I/O and poll(2). nghttp2 does the framing, HPACK, flow control
// and the peer's concurrency limit (requests above it wait in its queue).
import CNghttp2
import Foundation
import StatefunLocks

/// Sends requests over HTTP/2 connections, one per endpoint transport, made on demand.
///
/// A connection that failed, or that received GOAWAY, takes no new requests:
/// the next request opens a new one. Requests on a connection that fails, and
/// streams the server resets or refuses, fail with ``LocalRuntimeError/connection(_:)``,
/// which the runtime retries as it retries any connection error.
package final class HTTP2Client: Sendable {
    private let connections = Lock<[EndpointURL.Transport: HTTP2Connection]>([:])
    private let timeout: Duration

    package init(timeout: Duration = .seconds(60)) {
        self.timeout = timeout
    }

    deinit { close() }

    /// Ends every connection (streams in flight fail).
    package func close() {
        let all = connections.withLock { map in
            defer { map = [:] }
            return Array(map.values)
        }
        for connection in all { connection.stop() }
    }

    /// POSTs `body` to `endpoint` on a stream of the endpoint's connection.
    package func post(_ body: [UInt8], to endpoint: EndpointURL) async throws -> HTTPReply {
        let authority: String
        switch endpoint.transport {
        case let .tcp(host, port): authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix: authority = "localhost"
        }
        return try await withThreadHandoff { deliver in
            let request = HTTP2Request(
                path: endpoint.path, authority: authority, body: body, continuation: ReplyDelivery(deliver: deliver))
            connections.withLock { map in
                // The endpoint's connection, unless it takes no more requests (failed, or GOAWAY):
                // then a new one, which starts with this request.
                if let existing = map[endpoint.transport], existing.submit(request) { return }
                map[endpoint.transport] = HTTP2Connection(transport: endpoint.transport, timeout: timeout, first: request)
            }
        }
    }
}

/// A request waiting for its stream.
struct HTTP2Request: Sendable {
    let path: String
    let authority: String
    let body: [UInt8]
    let continuation: ReplyDelivery
}

/// Resumes the task awaiting a request from the connection's thread, through
/// ``withThreadHandoff`` (so that ThreadSanitizer sees the reply handed over).
struct ReplyDelivery: Sendable {
    let deliver: @Sendable (Result<HTTPReply, any Error>) -> Void
    func resume(returning reply: HTTPReply) { deliver(.success(reply)) }
    func resume(throwing error: any Error) { deliver(.failure(error)) }
}

/// One HTTP/2 connection: what requesters and the connection's thread share.
final class HTTP2Connection: Sendable {
    struct Shared {
        var queued: [HTTP2Request] = []
        /// GOAWAY received, or the connection is over: no new requests.
        var closedToRequests = false
        var stopRequested = false
    }

    let transport: EndpointURL.Transport
    let timeout: Duration
    let shared = Lock(Shared())
    /// Wakes the connection's thread from poll(2): [read end, write end].
    let wakeRead: Int32
    let wakeWrite: Int32

    init(transport: EndpointURL.Transport, timeout: Duration, first: HTTP2Request) {
        self.transport = transport
        self.timeout = timeout
        shared.withLock { $0.queued = [first] }
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for fd in ends {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
        Thread { [self] in HTTP2Driver(connection: self).run() }.start()
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Hands a request to the connection's thread; false if the connection takes no more.
    func submit(_ request: HTTP2Request) -> Bool {
        let taken = shared.withLock { state in
            guard !state.closedToRequests else { return false }
            state.queued.append(request)
            return true
        }
        if taken { wake() }
        return taken
    }

    func stop() {
        shared.withLock {
            $0.stopRequested = true
            $0.closedToRequests = true
        }
        wake()
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}

/// A request's stream, as the connection's thread sees it.
private final class HTTP2ClientStream {
    let request: HTTP2Request
    let deadline: ContinuousClock.Instant
    var bodyOffset = 0
    var status: Int?
    var contentType: String?
    var response: [UInt8] = []

    init(_ request: HTTP2Request, deadline: ContinuousClock.Instant) {
        self.request = request
        self.deadline = deadline
    }
}

/// Drives one connection's nghttp2 session on the connection's own thread.
private final class HTTP2Driver {
    let connection: HTTP2Connection
    var session: OpaquePointer?
    var fd: Int32 = -1
    var streams: [Int32: HTTP2ClientStream] = [:]
    var output: [UInt8] = []
    var outputOffset = 0
    var goawayReceived = false
    /// Why the connection ended, for the requests it fails.
    var failure: LocalRuntimeError?
    var receivedAnything = false
    let clock = ContinuousClock()

    init(connection: HTTP2Connection) {
        self.connection = connection
    }

    var endpointName: String {
        switch connection.transport {
        case let .tcp(host, port): return "\(host):\(port)"
        case let .unix(path): return path
        }
    }

    func run() {
        do {
            fd = try connectSocket(connection.transport, timeout: connection.timeout)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            try startSession()
            try loop()
        } catch let error as LocalRuntimeError {
            failure = error
        } catch {
            failure = .connection("\(error)")
        }
        finish()
    }

    private func startSession() throws {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw LocalRuntimeError.connection("nghttp2_session_callbacks_new failed")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks, clientOnHeader)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, clientOnDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, clientOnStreamClose)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, clientOnFrameRecv)
        nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, clientOnFrameNotSend)
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            throw LocalRuntimeError.connection("nghttp2_option_new failed")
        }
        defer { nghttp2_option_del(option) }
        // Until the server's SETTINGS arrive, assume the 100 concurrent streams RFC 9113 recommends
        // at least (nghttp2 would assume no limit). Streams a lower limit refuses are retried.
        nghttp2_option_set_peer_max_concurrent_streams(option, 100)
        var created: OpaquePointer?
        let userData = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_client_new2(&created, callbacks, userData, option) == 0, let created else {
            throw LocalRuntimeError.connection("nghttp2_session_client_new failed")
        }
        session = created
        let window: UInt32 = 16 << 20
        let settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: window),
        ]
        var rc = nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), settings, settings.count)
        if rc == 0 {
            rc = nghttp2_session_set_local_window_size(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(window))
        }
        guard rc == 0 else { throw LocalRuntimeError.connection("cannot start the HTTP/2 session: \(nghttp2Text(rc))") }
    }

    private func loop() throws {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            drainWakePipe()
            let (requests, stop) = connection.shared.withLock { state in
                defer { state.queued = [] }
                return (state.queued, state.stopRequested)
            }
            if stop { throw LocalRuntimeError.connection("the client was closed") }
            for request in requests { try submitRequest(request) }
            expireStreams()

            try flush()
            if goawayReceived && streams.isEmpty && outputOffset == output.count {
                throw LocalRuntimeError.connection("the endpoint sent GOAWAY")
            }
            if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
                && outputOffset == output.count
            {
                throw LocalRuntimeError.connection("the HTTP/2 session ended")
            }

            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN) | (outputOffset < output.count ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: connection.wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let rc = poll(&fds, 2, pollTimeout())
            if rc < 0 {
                if errno == EINTR { continue }
                throw LocalRuntimeError.connection("poll: \(errnoText())")
            }
            if fds[0].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                try readAvailable(&buffer)
            }
        }
    }

    /// Reads what the socket has and feeds it to nghttp2.
    private func readAvailable(_ buffer: inout [UInt8]) throws {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                if !receivedAnything && buffer.starts(with: "HTTP/1.".utf8) {
                    // Retrying cannot help: fail the job with what the endpoint said.
                    let line = String(decoding: buffer[..<n].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
                    throw LocalRuntimeError.jobFailed(
                        "\(endpointName) answered the HTTP/2 preface in HTTP/1.1 (\(line)): it does not speak HTTP/2 "
                            + "with prior knowledge; drop --h2c, or write its URL with http:// rather than h2c://")
                }
                receivedAnything = true
                let rc = buffer.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, n) }
                if rc < 0 { throw LocalRuntimeError.connection("HTTP/2 protocol error: \(nghttp2Text(Int32(rc)))") }
                if n < buffer.count { return }
                continue
            }
            if n == 0 { throw LocalRuntimeError.connection("connection closed by the endpoint") }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return }
            throw LocalRuntimeError.connection("recv: \(errnoText())")
        }
    }

    /// Serializes what nghttp2 has queued and writes as much as the socket takes.
    private func flush() throws {
        while true {
            if outputOffset == output.count {
                output.removeAll(keepingCapacity: true)
                outputOffset = 0
                while output.count < 256 * 1024 {
                    var data: UnsafePointer<UInt8>?
                    let n = nghttp2_session_mem_send(session, &data)
                    if n < 0 { throw LocalRuntimeError.connection("HTTP/2 error: \(nghttp2Text(Int32(n)))") }
                    guard n > 0, let data else { break }
                    output.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
                }
                if output.isEmpty { return }
            }
            let n = output.withUnsafeBytes {
                send(fd, $0.baseAddress! + outputOffset, output.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                throw LocalRuntimeError.connection("send: \(errnoText())")
            }
            outputOffset += n
        }
    }

    private func submitRequest(_ request: HTTP2Request) throws {
        let fields: [(String, String)] = [
            (":method", "POST"), (":scheme", "http"), (":authority", request.authority), (":path", request.path),
            ("content-type", "application/octet-stream"), ("accept", "application/octet-stream"),
            ("user-agent", "statefun-local"), ("content-length", String(request.body.count)),
        ]
        var storage: [UInt8] = []
        var spans: [(Range<Int>, Range<Int>)] = []
        for (name, value) in fields {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            spans.append((nameStart..<valueStart, valueStart..<storage.count))
        }
        let stream = HTTP2ClientStream(request, deadline: clock.now + connection.timeout)
        let id = storage.withUnsafeMutableBufferPointer { buffer -> Int32 in
            let base = buffer.baseAddress!
            let nva = spans.map { name, value in
                nghttp2_nv(
                    name: base + name.lowerBound, value: base + value.lowerBound, namelen: name.count,
                    valuelen: value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            guard !request.body.isEmpty else { return nghttp2_submit_request(session, nil, nva, nva.count, nil, nil) }
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: clientReadBody)
            return nghttp2_submit_request(session, nil, nva, nva.count, &provider, nil)
        }
        guard id > 0 else {
            request.continuation.resume(
                throwing: LocalRuntimeError.connection("cannot start an HTTP/2 stream: \(nghttp2Text(id))"))
            return
        }
        streams[id] = stream
    }

    /// Fails (and resets) the streams past their deadline, as a read timeout would.
    private func expireStreams() {
        let now = clock.now
        for (id, stream) in streams where stream.deadline <= now {
            streams[id] = nil
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
            stream.request.continuation.resume(
                throwing: LocalRuntimeError.connection("no response from \(endpointName) within \(connection.timeout)"))
        }
    }

    private func pollTimeout() -> Int32 {
        guard let next = streams.values.map(\.deadline).min() else { return 1000 }
        let left = clock.now.duration(to: next)
        let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
        return Int32(max(0, min(ms, 1000)))
    }

    private func drainWakePipe() {
        var bytes = [UInt8](repeating: 0, count: 256)
        while read(connection.wakeRead, &bytes, bytes.count) > 0 {}
    }

    /// The connection is over: it takes no more requests, and what it held fails.
    private func finish() {
        let queued = connection.shared.withLock { state in
            state.closedToRequests = true
            defer { state.queued = [] }
            return state.queued
        }
        let reason = failure ?? .connection("the HTTP/2 connection ended")
        for request in queued { request.continuation.resume(throwing: reason) }
        let open = streams
        streams = [:]
        for stream in open.values { stream.request.continuation.resume(throwing: reason) }
        if let session { nghttp2_session_del(session) }
        session = nil
        if fd >= 0 { close(fd) }
        fd = -1
    }

    // MARK: Callbacks

    fileprivate func header(_ id: Int32, _ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) {
        guard let stream = streams[id] else { return }
        if name.elementsEqual(":status".utf8) {
            stream.status = Int(String(decoding: value, as: UTF8.self))
        } else if name.elementsEqual("content-type".utf8) {
            stream.contentType = String(decoding: value, as: UTF8.self)
        }
    }

    fileprivate func data(_ id: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        streams[id]?.response.append(contentsOf: bytes)
    }

    fileprivate func streamClosed(_ id: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        if errorCode == NGHTTP2_NO_ERROR.rawValue, let status = stream.status, status >= 200 {
            stream.request.continuation.resume(
                returning: HTTPReply(status: status, contentType: stream.contentType, body: stream.response))
        } else {
            let reason = errorCode == NGHTTP2_NO_ERROR.rawValue
                ? "stream closed without a response" : "stream reset: \(String(cString: nghttp2_http2_strerror(errorCode)))"
            stream.request.continuation.resume(throwing: LocalRuntimeError.connection("\(endpointName): \(reason)"))
        }
    }

    fileprivate func goaway(lastStreamID: Int32, errorCode: UInt32) {
        goawayReceived = true
        // No new requests here; those not yet handed to nghttp2 fail now and are retried on a new connection.
        let queued = connection.shared.withLock { state in
            state.closedToRequests = true
            defer { state.queued = [] }
            return state.queued
        }
        let reason = "\(endpointName) sent GOAWAY (\(String(cString: nghttp2_http2_strerror(errorCode))))"
        for request in queued { request.continuation.resume(throwing: LocalRuntimeError.connection(reason)) }
    }

    fileprivate func notSent(_ id: Int32, error: Int32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.request.continuation.resume(
            throwing: LocalRuntimeError.connection("\(endpointName): request not sent: \(nghttp2Text(error))"))
    }

    fileprivate func readBody(_ id: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int, _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[id] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let body = stream.request.body
        let n = min(length, body.count - stream.bodyOffset)
        if n > 0 {
            body.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + stream.bodyOffset, count: n) }
            stream.bodyOffset += n
        }
        if stream.bodyOffset == body.count { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return n
    }
}

private func nghttp2Text(_ code: Int32) -> String {
    "\(String(cString: nghttp2_strerror(code))) (\(code))"
}

private func driverFrom(_ userData: UnsafeMutableRawPointer?) -> HTTP2Driver {
    Unmanaged<HTTP2Driver>.fromOpaque(userData!).takeUnretainedValue()
}

private let clientOnHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    let frame = frame!.pointee
    guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
    driverFrom(userData).header(
        frame.hd.stream_id, UnsafeBufferPointer(start: name, count: nameLength),
        UnsafeBufferPointer(start: value, count: valueLength))
    return 0
}

private let clientOnDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    driverFrom(userData).data(streamID, UnsafeBufferPointer(start: data, count: length))
    return 0
}

private let clientOnStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    driverFrom(userData).streamClosed(streamID, errorCode: errorCode)
    return 0
}

private let clientOnFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    let frame = frame!.pointee
    if frame.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
        driverFrom(userData).goaway(lastStreamID: frame.goaway.last_stream_id, errorCode: frame.goaway.error_code)
    }
    return 0
}

private let clientOnFrameNotSend: nghttp2_on_frame_not_send_callback = { _, frame, error, userData in
    let frame = frame!.pointee
    if frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) { driverFrom(userData).notSent(frame.hd.stream_id, error: error) }
    return 0
}

private let clientReadBody: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
    driverFrom(userData).readBody(streamID, buffer!, length, flags!)
}
