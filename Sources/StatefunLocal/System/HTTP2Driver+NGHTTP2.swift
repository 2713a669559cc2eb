import StatefunSystem

// nghttp2's events, as the client's connection thread takes them: a response's
// head and body, its stream's close (the reply, or why there is none), GOAWAY,
// a request that could not be sent, and the request bodies nghttp2 asks for.

extension HTTP2Driver: NGHTTP2SessionDelegate {
    func onHeader(_ frame: NGHTTP2Frame, name: Span<UInt8>, value: Span<UInt8>) {
        guard frame.type == .headers, let stream = streams[frame.streamID] else { return }
        if name.equals(":status") {
            stream.status = Int(value.text)
        } else if name.equals("content-type") {
            stream.contentType = value.text
        }
    }

    func onDataChunk(stream id: Int32, _ bytes: Span<UInt8>) {
        guard let stream = streams[id] else { return }
        bytes.withUnsafeBufferPointer { stream.response.append(contentsOf: $0) }
    }

    func onStreamClose(_ id: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        if errorCode == 0, let status = stream.status, status >= 200 {
            stream.request.continuation.resume(
                returning: HTTPReply(status: status, contentType: stream.contentType, body: stream.response))
        } else {
            let reason = errorCode == 0
                ? "stream closed without a response" : "stream reset: \(NGHTTP2Session.describe(errorCode: errorCode))"
            stream.request.continuation.resume(throwing: LocalRuntimeError.connection("\(endpointName): \(reason)"))
        }
    }

    func onFrameReceived(_ frame: NGHTTP2Frame) -> Bool {
        if frame.type == .goaway { goaway(errorCode: frame.errorCode) }
        return true
    }

    /// A request's HEADERS could not be sent: its stream fails.
    func onFrameNotSent(_ frame: NGHTTP2Frame, error: Int32) {
        guard frame.type == .headers, let stream = streams.removeValue(forKey: frame.streamID) else { return }
        stream.request.continuation.resume(
            throwing: LocalRuntimeError.connection("\(endpointName): request not sent: \(NGHTTP2Session.describe(error))"))
    }

    /// The next part of the stream's request body.
    func onReadData(stream id: Int32, into sink: NGHTTP2DataSink) -> NGHTTP2DataRead? {
        guard let stream = streams[id] else { return nil }
        let count = sink.copy(stream.request.body, from: stream.bodyOffset)
        stream.bodyOffset += count
        return NGHTTP2DataRead(count: count, endOfData: stream.bodyOffset == stream.request.body.count)
    }

    private func goaway(errorCode: UInt32) {
        goawayReceived = true
        // No new requests here; those not yet handed to nghttp2 fail now and are retried on a new connection.
        let queued = connection.shared.withLock { state in
            state.closedToRequests = true
            defer { state.queued = [] }
            return state.queued
        }
        let reason = "\(endpointName) sent GOAWAY (\(NGHTTP2Session.describe(errorCode: errorCode)))"
        for request in queued { request.continuation.resume(throwing: LocalRuntimeError.connection(reason)) }
    }
}

extension Span<UInt8> {
    /// The bytes are those of `text`.
    fileprivate func equals(_ text: StaticString) -> Bool {
        guard count == text.utf8CodeUnitCount else { return false }
        var i = 0
        for byte in text.description.utf8 {
            if self[i] != byte { return false }
            i += 1
        }
        return true
    }

    /// The bytes as UTF-8 text.
    fileprivate var text: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        for i in indices { bytes.append(self[i]) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
