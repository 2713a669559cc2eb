// What nghttp2's callbacks tell a session's owner, in Swift terms: the one
// interface both roles implement (the server's HTTP/2 session, statefun-local's
// client driver). Names follow nghttp2's callbacks (`on_begin_headers_callback`…).

/// The events of an ``NGHTTP2Session``, delivered on the thread that calls its
/// ``NGHTTP2Session/receive(_:)`` or ``NGHTTP2Session/send(into:limit:)``.
/// Spans, frames and sinks are valid during the call only. The events a role
/// does not need have empty defaults.
package protocol NGHTTP2SessionDelegate: AnyObject {
    /// A header block begins (HEADERS, or PUSH_PROMISE).
    func onBeginHeaders(_ frame: NGHTTP2Frame)
    /// One header field of the block `frame` began.
    func onHeader(_ frame: NGHTTP2Frame, name: Span<UInt8>, value: Span<UInt8>)
    /// A whole frame was received (after its header fields, or its data chunks).
    /// False fails the session (`NGHTTP2_ERR_CALLBACK_FAILURE`).
    func onFrameReceived(_ frame: NGHTTP2Frame) -> Bool
    /// Bytes of a DATA frame's payload on `stream`.
    func onDataChunk(stream: Int32, _ bytes: Span<UInt8>)
    /// `stream` is closed, with `errorCode` (RFC 9113 §7; 0 is NO_ERROR).
    func onStreamClose(_ stream: Int32, errorCode: UInt32)
    /// A frame was serialized for sending.
    func onFrameSent(_ frame: NGHTTP2Frame)
    /// A frame could not be sent (its stream closed first, or refused): `error` is nghttp2's code.
    func onFrameNotSent(_ frame: NGHTTP2Frame, error: Int32)
    /// A frame broke the protocol and was refused: `error` is nghttp2's code.
    func onInvalidFrame(_ frame: NGHTTP2Frame, error: Int32)
    /// The next part of `stream`'s body for a DATA frame: copied into `sink`.
    /// Nil if the stream has no body here (nghttp2 fails the stream, as for a temporal failure).
    func onReadData(stream: Int32, into sink: NGHTTP2DataSink) -> NGHTTP2DataRead?
}

extension NGHTTP2SessionDelegate {
    package func onBeginHeaders(_ frame: NGHTTP2Frame) {}
    package func onFrameSent(_ frame: NGHTTP2Frame) {}
    package func onFrameNotSent(_ frame: NGHTTP2Frame, error: Int32) {}
    package func onInvalidFrame(_ frame: NGHTTP2Frame, error: Int32) {}
}

/// What ``NGHTTP2SessionDelegate/onReadData(stream:into:)`` copied.
@usableFromInline
package struct NGHTTP2DataRead: Sendable {
    /// Bytes copied into the sink.
    @usableFromInline package var count: Int
    /// They were the last of the body: the DATA frame ends the stream.
    @usableFromInline package var endOfData: Bool

    @inlinable
    package init(count: Int, endOfData: Bool) {
        self.count = count
        self.endOfData = endOfData
    }
}

/// Where a body's next part goes: nghttp2's buffer for one DATA frame, lent
/// for the duration of ``NGHTTP2SessionDelegate/onReadData(stream:into:)``.
@usableFromInline
package struct NGHTTP2DataSink {
    @usableFromInline let buffer: UnsafeMutablePointer<UInt8>
    /// How many bytes the frame takes at most.
    @usableFromInline package let capacity: Int

    init(_ buffer: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.buffer = buffer
        self.capacity = capacity
    }

    /// Copies as much of `bytes[offset...]` as fits; returns how many bytes.
    @inlinable @inline(__always)
    package func copy(_ bytes: [UInt8], from offset: Int) -> Int {
        let start = min(max(offset, 0), bytes.count)
        let count = min(capacity, bytes.count - start)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBufferPointer { source in
            buffer.update(from: source.baseAddress! + start, count: count)
        }
        return count
    }
}
