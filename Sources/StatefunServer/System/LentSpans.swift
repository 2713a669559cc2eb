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
