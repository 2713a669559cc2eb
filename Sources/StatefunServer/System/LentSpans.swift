// Storage lent as a safe view for the length of one call: the pointer never
// leaves the closure that lends it.

extension Array where Element == UInt8 {
    /// Lends `range` of the array's bytes, to be written into (a read's destination).
    @inline(__always)
    mutating func withMutableBytes<R>(in range: Range<Int>, _ body: (inout MutableRawSpan) -> R) -> R {
        withUnsafeMutableBytes { all in
            var span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(rebasing: all[range]))
            return body(&span)
        }
    }
}

extension RawSpan {
    /// The same bytes as a `Span<UInt8>`, for the call.
    @inline(__always)
    func withByteSpan<R>(_ body: (Span<UInt8>) -> R) -> R {
        withUnsafeBytes { body(Span(_unsafeElements: $0.assumingMemoryBound(to: UInt8.self))) }
    }
}

extension Array where Element == UInt8 {
    /// `count` bytes not zeroed first: every one is written before it is read (a body read whole).
    @inline(__always)
    init(uninitializedCount count: Int) {
        self.init(unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Overwrites the bytes from `offset` with `bytes`; nothing if they do not fit.
    @inline(__always)
    mutating func replaceBytes(at offset: Int, with bytes: Span<UInt8>) {
        guard !bytes.isEmpty, offset >= 0, offset <= count - bytes.count else { return }
        withUnsafeMutableBytes { all in
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: all[offset..<(offset + $0.count)]).copyMemory(from: $0) }
        }
    }
}
