// A frame as nghttp2's callbacks see it, in Swift terms: what the delegates of
// both roles read of it, read from nghttp2's C frame.
public import CNghttp2

/// A frame type (RFC 9113 §6). Inlinable, as the server's callbacks switch on it.
@usableFromInline
package struct NGHTTP2FrameType: RawRepresentable, Equatable, Sendable {
    @usableFromInline package var rawValue: UInt8

    @inlinable
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable package static var data: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: 0x0) }
    @inlinable package static var headers: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: 0x1) }
    @inlinable package static var rstStream: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: 0x3) }
    @inlinable package static var settings: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: 0x4) }
    @inlinable package static var ping: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: 0x6) }
    @inlinable package static var goaway: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: 0x7) }
    @inlinable package static var windowUpdate: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: 0x8) }
}

/// What a HEADERS frame carries, as nghttp2 tells it (`nghttp2_headers_category`).
@usableFromInline
package enum NGHTTP2HeadersCategory: Sendable {
    /// A request's head: what a server receives first on a stream.
    case request
    /// A response's head: what a client receives first on a stream.
    case response
    /// The head of a pushed response.
    case pushResponse
    /// Any other header block: trailers, or a non-final (1xx) response's head.
    case headers
}

/// One frame received, sent, refused or found invalid: its header, and the
/// parts of its payload the delegates read. A view of nghttp2's frame, valid
/// during the callback it is passed to only; read lazily (inlinable), as the
/// server reads a field or two of each of a request's frames.
@usableFromInline
package struct NGHTTP2Frame {
    @usableFromInline let frame: UnsafePointer<nghttp2_frame>

    init(_ frame: UnsafePointer<nghttp2_frame>) { self.frame = frame }

    @inlinable package var type: NGHTTP2FrameType { NGHTTP2FrameType(rawValue: frame.pointee.hd.type) }
    @inlinable package var flags: UInt8 { frame.pointee.hd.flags }
    @inlinable package var streamID: Int32 { frame.pointee.hd.stream_id }
    /// The payload's length.
    @inlinable package var length: Int { frame.pointee.hd.length }

    /// END_STREAM (0x1) is set: HEADERS or DATA that end their stream.
    @inlinable package var endsStream: Bool { flags & 0x1 != 0 }
    /// ACK (0x1) is set: SETTINGS or PING that acknowledge ours.
    @inlinable package var isAck: Bool { flags & 0x1 != 0 }

    /// For HEADERS: what they carry; nil for other frames.
    @inlinable package var headersCategory: NGHTTP2HeadersCategory? {
        guard type == .headers else { return nil }
        switch frame.pointee.headers.cat {
        case NGHTTP2_HCAT_REQUEST: return .request
        case NGHTTP2_HCAT_RESPONSE: return .response
        case NGHTTP2_HCAT_PUSH_RESPONSE: return .pushResponse
        default: return .headers
        }
    }

    /// For GOAWAY: the last stream its sender processed; 0 otherwise.
    @inlinable package var lastStreamID: Int32 { type == .goaway ? frame.pointee.goaway.last_stream_id : 0 }

    /// For GOAWAY and RST_STREAM: the error code (RFC 9113 §7); 0 otherwise.
    @inlinable package var errorCode: UInt32 {
        switch type {
        case .goaway: return frame.pointee.goaway.error_code
        case .rstStream: return frame.pointee.rst_stream.error_code
        default: return 0
        }
    }

    /// For PING: its 8 bytes of opaque data; empty otherwise.
    @inlinable package var pingData: [UInt8] {
        guard type == .ping else { return [] }
        let data = frame.pointee.ping.opaque_data
        return [data.0, data.1, data.2, data.3, data.4, data.5, data.6, data.7]
    }
}
