// nghttp2's events, as the server's HTTP/2 session takes them: the requests
// (HEADERS and DATA a client sends), the frames sent (responses done, GOAWAY),
// and the response bodies nghttp2 asks for.

extension HTTP2Session: NGHTTP2SessionDelegate {
    func onBeginHeaders(_ frame: NGHTTP2Frame) {
        if frame.headersCategory == .request { beginHeaders(frame.streamID) }
    }

    func onHeader(_ frame: NGHTTP2Frame, name: Span<UInt8>, value: Span<UInt8>) {
        guard frame.headersCategory == .request else { return }
        header(frame.streamID, name: name, value: value)
    }

    func onFrameReceived(_ frame: NGHTTP2Frame) -> Bool {
        switch frame.type {
        case .headers:
            if frame.headersCategory == .request { headersComplete(frame.streamID) }
            if frame.endsStream { requestComplete(frame.streamID) }
        case .data:
            if frame.endsStream {
                requestComplete(frame.streamID)
            } else if frame.length == 0 {
                return emptyData()
            } else {
                nonEmptyData()
            }
        case .ping:
            if frame.isAck { pingAcknowledged(frame.pingData) }
        default:
            break
        }
        return true
    }

    func onDataChunk(stream: Int32, _ bytes: Span<UInt8>) {
        data(stream, bytes)
    }

    func onStreamClose(_ stream: Int32, errorCode: UInt32) {
        streamClosed(stream, errorCode: HTTP2ErrorCode(rawValue: errorCode))
    }

    func onFrameSent(_ frame: NGHTTP2Frame) {
        switch frame.type {
        case .headers, .data:
            if frame.endsStream { responseSent(frame.streamID) }
        case .goaway:
            goawaySent(HTTP2ErrorCode(rawValue: frame.errorCode), lastStreamID: frame.lastStreamID)
        default:
            break
        }
    }

    func onInvalidFrame(_ frame: NGHTTP2Frame, error: Int32) {
        invalidFrame(frame.type.rawValue, stream: frame.streamID, error: NGHTTP2Session.describe(error))
    }

    /// The next part of the stream's `responseBody`.
    func onReadData(stream id: Int32, into sink: NGHTTP2DataSink) -> NGHTTP2DataRead? {
        guard let stream = stream(id) else { return nil }
        let count = sink.copy(stream.responseBody, from: stream.responseOffset)
        return NGHTTP2DataRead(count: count, endOfData: responseBodyRead(stream, count: count))
    }
}
