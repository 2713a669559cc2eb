// nghttp2's C callbacks: each finds the session (`user_data`, unretained) and
// hands the event to its delegate in Swift terms (frames copied, bytes as spans).
public import CNghttp2

/// Sets every callback a delegate can receive on a new callbacks table.
func installCallbacks(_ callbacks: OpaquePointer) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
    nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkRecv)
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)
    nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, onFrameNotSend)
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks, onInvalidFrameRecv)
}

@inline(__always)
private func delegate(_ userData: UnsafeMutableRawPointer?) -> any NGHTTP2SessionDelegate {
    Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue().delegate
}

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    delegate(userData).onBeginHeaders(NGHTTP2Frame(frame!))
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    let nameBytes = UnsafeBufferPointer(start: name, count: nameLength)
    let valueBytes = UnsafeBufferPointer(start: value, count: valueLength)
    delegate(userData).onHeader(
        NGHTTP2Frame(frame!), name: Span(_unsafeElements: nameBytes), value: Span(_unsafeElements: valueBytes))
    return 0
}

private let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    delegate(userData).onFrameReceived(NGHTTP2Frame(frame!)) ? 0 : Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
}

private let onDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    let bytes = UnsafeBufferPointer(start: data, count: length)
    delegate(userData).onDataChunk(stream: streamID, Span(_unsafeElements: bytes))
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    delegate(userData).onStreamClose(streamID, errorCode: errorCode)
    return 0
}

private let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
    delegate(userData).onFrameSent(NGHTTP2Frame(frame!))
    return 0
}

private let onFrameNotSend: nghttp2_on_frame_not_send_callback = { _, frame, error, userData in
    delegate(userData).onFrameNotSent(NGHTTP2Frame(frame!), error: error)
    return 0
}

private let onInvalidFrameRecv: nghttp2_on_invalid_frame_recv_callback = { _, frame, error, userData in
    delegate(userData).onInvalidFrame(NGHTTP2Frame(frame!), error: error)
    return 0
}

/// The data provider of every body a session sends (a server's responses, a
/// client's requests): the delegate copies the stream's next part into nghttp2's buffer.
@usableFromInline
let nghttp2ReadData: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
    guard let read = delegate(userData).onReadData(stream: streamID, into: NGHTTP2DataSink(buffer!, capacity: length))
    else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
    if read.endOfData { flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
    return read.count
}
