// The server's role of the nghttp2 session StatefunSystem holds (the one wall
// that calls nghttp2, Sources/StatefunSystem/NGHTTP2Session.swift): a server
// session for an ``HTTP2Session``, which receives its events
// (HTTP2Session+NGHTTP2.swift), and its submissions in the server's terms.

extension NGHTTP2Session {
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
    convenience init(
        events: HTTP2Session, settings: Settings, upgrade: (settings: [UInt8], headRequest: Bool)?
    ) throws(HTTPServerError) {
        do {
            try self.init(
                .server(upgrade: upgrade), delegate: events,
                // Refuse a peer that keeps us busy answering SETTINGS/PING (flood protection).
                // The connection window is the session's to widen (HTTP2Session.replenishWindow).
                options: Options(maxOutboundAck: 1000, maxSettings: 32, noAutoWindowUpdate: true),
                settings: [
                    .maxConcurrentStreams(settings.maxConcurrentStreams),
                    .initialWindowSize(settings.initialWindowSize),
                    .maxFrameSize(settings.maxFrameSize),
                    .maxHeaderListSize(settings.maxHeaderListSize),
                ])
        } catch {
            throw HTTPServerError(.system, error.description)
        }
    }

    @inline(__always)
    func submitReset(stream: Int32, _ code: HTTP2ErrorCode) {
        submitReset(stream: stream, errorCode: code.rawValue)
    }

    /// GOAWAY(`code`); the session ends once it is sent.
    func terminate(_ code: HTTP2ErrorCode) {
        terminate(errorCode: code.rawValue)
    }

    /// Submits a response's HEADERS: `:status`, the encoded fields, `content-length`
    /// (unless nil) and `date`; DATA follows from the stream's `responseBody`
    /// (``HTTP2Session/responseBodyRead(_:count:)``) when `withBody`. 0 or nghttp2's error code.
    @inline(__always)
    func submitResponse(
        stream id: Int32, status: Int, fields: HTTP2Fields, contentLength: Int?, date: [UInt8], withBody: Bool
    ) -> Int32 {
        submitResponse(
            stream: id, status: status, fieldBytes: fields.bytes, fieldSpans: fields.spans, contentLength: contentLength,
            date: date, withBody: withBody)
    }
}
