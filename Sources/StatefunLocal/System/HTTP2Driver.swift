import CNghttp2
import Foundation

/// A request's stream, as the connection's thread sees it.
final class HTTP2ClientStream {
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
final class HTTP2Driver {
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
