// Bytes lent to message types as a `RawSpan`, the public form of
// `PackableMessage.init(packedBytes:)`, from the buffers the wire code holds.

extension PackableMessage {
    /// Decodes a message from bytes the caller owns (a decoded request's
    /// arena), lent to the type as a `RawSpan` for the call.
    @inline(__always)
    init(packedBytes buffer: UnsafeRawBufferPointer) throws {
        try self.init(packedBytes: RawSpan(_unsafeBytes: buffer))
    }
}

extension Array where Element == UInt8 {
    /// A copy of lent bytes: the default `init(packedBytes:)` for a type that
    /// only decodes from an array.
    init(copying bytes: RawSpan) {
        self = bytes.withUnsafeBytes { [UInt8]($0) }
    }
}
