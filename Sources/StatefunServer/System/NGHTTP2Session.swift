// The wall between libnghttp2 and the server's HTTP/2 code: the only file that
// calls nghttp2, holds its pointers or takes its C callbacks. nghttp2 does the
// framing, HPACK, flow control, stream states and protocol errors; it calls
// back here (`user_data` is the ``HTTP2Session``, unretained), and these
// callbacks hand the events to the session in Swift terms.
import CNghttp2

/// One nghttp2 server session: bytes in, frames out, submissions. Owned by its
/// ``HTTP2Session``, which nghttp2's callbacks reach; deleted with it.
final class NGHTTP2Session {
    private let raw: OpaquePointer

    /// Our SETTINGS (as RFC 9113 §6.5.2 names them) and the limits nghttp2 enforces itself.
    struct Settings {
        var maxConcurrentStreams: Int
        var initialWindowSize: Int
        var maxFrameSize: Int
        var maxHeaderListSize: Int
    }

    /// A server session for `events`, our SETTINGS queued. For an HTTP/1.1
    /// `Upgrade: h2c`, `upgrade` carries the decoded `HTTP2-Settings` payload,
    /// and stream 1 is opened half-closed for the request already read.
    init(
        events: HTTP2Session, settings: Settings, upgrade: (settings: [UInt8], headRequest: Bool)?
    ) throws(HTTPServerError) {
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
        // The connection window is the session's to widen (HTTP2Session.replenishWindow).
        nghttp2_option_set_no_auto_window_update(option, 1)

        var created: OpaquePointer?
        let userData = Unmanaged.passUnretained(events).toOpaque()
        guard nghttp2_session_server_new2(&created, callbacks, userData, option) == 0, let created else {
            throw HTTPServerError(.system, "nghttp2_session_server_new2 failed")
        }
        let entries = [
            (NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams),
            (NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initialWindowSize),
            (NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings.maxFrameSize),
            (NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize),
        ].map { id, value in
            nghttp2_settings_entry(settings_id: Int32(id.rawValue), value: UInt32(clamping: value))
        }
        var rc = nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
        if rc == 0, let upgrade {
            rc = upgrade.settings.withUnsafeBufferPointer { payload in
                nghttp2_session_upgrade2(created, payload.baseAddress, payload.count, upgrade.headRequest ? 1 : 0, nil)
            }
        }
        if rc != 0 {
            nghttp2_session_del(created)
            throw HTTPServerError(.system, "cannot start the HTTP/2 session: \(Self.describe(rc))")
        }
        raw = created
    }

    deinit { nghttp2_session_del(raw) }

    // MARK: - Input and output

    /// Feeds bytes read from the socket; the callbacks run meanwhile. Nil, or
    /// nghttp2's error code (the session is then over, a GOAWAY maybe queued).
    func receive(_ bytes: RawSpan) -> Int32? {
        bytes.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
            let rc = nghttp2_session_mem_recv(raw, base.assumingMemoryBound(to: UInt8.self), bytes.count)
            return rc < 0 ? Int32(rc) : nil
        }
    }

    /// Serializes queued frames onto `output`, up to about `limit` bytes in all.
    /// Nil, or nghttp2's error code.
    func send(into output: inout [UInt8], limit: Int) -> Int32? {
        while output.count < limit {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            if n < 0 { return Int32(n) }
            guard n > 0, let data else { break }
            if output.isEmpty { output.reserveCapacity(min(limit + 65536, max(n, 16 * 1024))) }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        return nil
    }

    /// nghttp2 wants neither to read nor to write: the session is over.
    var isFinished: Bool { nghttp2_session_want_read(raw) == 0 && nghttp2_session_want_write(raw) == 0 }

    /// The connection-level receive window still open to the client.
    var localWindowSize: Int { Int(nghttp2_session_get_local_window_size(raw)) }

    // MARK: - Submissions (frames queued for `send`)

    func submitWindowUpdate(stream: Int32, increment: Int) {
        nghttp2_submit_window_update(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, Int32(clamping: increment))
    }

    func submitReset(stream: Int32, _ code: HTTP2ErrorCode) {
        nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, code.rawValue)
    }

    /// GOAWAY with the largest stream id and a PING carrying `ping` (RFC 9113 §6.8's graceful notice).
    func submitShutdownNotice(ping: [UInt8]) {
        nghttp2_submit_shutdown_notice(raw)
        ping.withUnsafeBufferPointer { _ = nghttp2_submit_ping(raw, 0, $0.baseAddress) }
    }

    /// GOAWAY(NO_ERROR) naming the last stream nghttp2 passed to us.
    func submitFinalGoaway() {
        nghttp2_submit_goaway(
            raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(raw),
            NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    /// GOAWAY(`code`); the session ends once it is sent.
    func terminate(_ code: HTTP2ErrorCode) {
        nghttp2_session_terminate_session(raw, code.rawValue)
    }

    /// Submits a response's HEADERS: `:status`, the encoded fields, `content-length`
    /// (unless nil) and `date`; DATA follows from the stream's `responseBody`
    /// (``HTTP2Session/responseBodyRead(_:count:)``) when `withBody`. No array
    /// is built: the pairs point at the fields' bytes, at digits on the stack
    /// and at the date; nghttp2 copies them during the call. 0 or nghttp2's error code.
    func submitResponse(
        stream id: Int32, status: Int, fields: HTTP2Fields, contentLength: Int?, date: [UInt8], withBody: Bool
    ) -> Int32 {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { digits in
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
                        if let dateBase = date.baseAddress {
                            add(h2Date.utf8Start, h2Date.utf8CodeUnitCount, dateBase, date.count)
                        }
                        if withBody {
                            var provider = nghttp2_data_provider(
                                source: nghttp2_data_source(ptr: nil), read_callback: readResponseBody)
                            return nghttp2_submit_response(raw, id, nva.baseAddress, count, &provider)
                        }
                        return nghttp2_submit_response(raw, id, nva.baseAddress, count, nil)
                    }
                }
            }
        }
    }

    /// nghttp2's description of one of its error codes.
    static func describe(_ code: Int32) -> String {
        "\(String(cString: nghttp2_strerror(code))) (\(code))"
    }
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
    let nameBytes = UnsafeBufferPointer(start: name, count: nameLength)
    let valueBytes = UnsafeBufferPointer(start: value, count: valueLength)
    sessionFrom(userData).header(
        frame.hd.stream_id, name: Span(_unsafeElements: nameBytes), value: Span(_unsafeElements: valueBytes))
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
            let data = frame.ping.opaque_data
            session.pingAcknowledged([data.0, data.1, data.2, data.3, data.4, data.5, data.6, data.7])
        }
    default:
        break
    }
    return 0
}

private let onDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    let bytes = UnsafeBufferPointer(start: data, count: length)
    sessionFrom(userData).data(streamID, Span(_unsafeElements: bytes))
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    sessionFrom(userData).streamClosed(streamID, errorCode: HTTP2ErrorCode(rawValue: errorCode))
    return 0
}

private let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
    let session = sessionFrom(userData)
    let frame = frame!.pointee
    switch frame.hd.type {
    case frameHEADERS, frameDATA:
        if frame.hd.flags & flagEndStream != 0 { session.responseSent(frame.hd.stream_id) }
    case frameGOAWAY:
        session.goawaySent(HTTP2ErrorCode(rawValue: frame.goaway.error_code), lastStreamID: frame.goaway.last_stream_id)
    default:
        break
    }
    return 0
}

private let onInvalidFrameRecv: nghttp2_on_invalid_frame_recv_callback = { _, frame, error, userData in
    let frame = frame!.pointee
    sessionFrom(userData).invalidFrame(frame.hd.type, stream: frame.hd.stream_id, error: NGHTTP2Session.describe(error))
    return 0
}

/// The data provider of a response body: copies the next part of the stream's
/// `responseBody` into nghttp2's buffer.
private let readResponseBody: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
    let session = sessionFrom(userData)
    guard let stream = session.stream(streamID) else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
    let n = min(length, stream.responseBody.count - stream.responseOffset)
    if n > 0 {
        stream.responseBody.withUnsafeBufferPointer { body in
            buffer!.update(from: body.baseAddress! + stream.responseOffset, count: n)
        }
    }
    if session.responseBodyRead(stream, count: n) { flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
    return n
}
