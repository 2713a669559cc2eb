// A frame as nghttp2's callbacks see it, in Swift terms: what the delegates of
// both roles read of it, copied out of nghttp2's C frame.
import CNghttp2

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
/// parts of its payload the delegates read. Valid on its own (a copy).
@usableFromInline
package struct NGHTTP2Frame: Sendable {
    package let type: NGHTTP2FrameType
    @usableFromInline package let flags: UInt8
    package let streamID: Int32
    /// The payload's length.
    package let length: Int
    /// For HEADERS: what they carry; nil for other frames.
    package let headersCategory: NGHTTP2HeadersCategory?
    /// For GOAWAY: the last stream its sender processed; 0 otherwise.
    package let lastStreamID: Int32
    /// For GOAWAY and RST_STREAM: the error code (RFC 9113 §7); 0 otherwise.
    package let errorCode: UInt32
    /// For PING: its 8 bytes of opaque data; zeros otherwise.
    package let pingData: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    /// END_STREAM (0x1) is set: HEADERS or DATA that end their stream.
    @inlinable package var endsStream: Bool { flags & 0x1 != 0 }
    /// ACK (0x1) is set: SETTINGS or PING that acknowledge ours.
    @inlinable package var isAck: Bool { flags & 0x1 != 0 }

    /// A copy of what the delegates read of `frame`.
    init(_ frame: UnsafePointer<nghttp2_frame>) {
        let header = frame.pointee.hd
        type = NGHTTP2FrameType(rawValue: header.type)
        flags = header.flags
        streamID = header.stream_id
        length = header.length
        var category: NGHTTP2HeadersCategory?
        var lastStreamID: Int32 = 0
        var errorCode: UInt32 = 0
        var pingData: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
        switch type {
        case .headers:
            switch frame.pointee.headers.cat {
            case NGHTTP2_HCAT_REQUEST: category = .request
            case NGHTTP2_HCAT_RESPONSE: category = .response
            case NGHTTP2_HCAT_PUSH_RESPONSE: category = .pushResponse
            default: category = .headers
            }
        case .goaway:
            lastStreamID = frame.pointee.goaway.last_stream_id
            errorCode = frame.pointee.goaway.error_code
        case .rstStream:
            errorCode = frame.pointee.rst_stream.error_code
        case .ping:
            pingData = frame.pointee.ping.opaque_data
        default:
            break
        }
        headersCategory = category
        self.lastStreamID = lastStreamID
        self.errorCode = errorCode
        self.pingData = pingData
    }
}
