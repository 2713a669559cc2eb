import Glibc

/// The byte scans of the HTTP/1.1 parser that must stay fast (memchr, memcmp),
/// over spans: the pointers stay inside these functions.
enum ByteScan {
    /// The index of the first `byte` in `bytes[from...]`, or nil.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in bytes: Span<UInt8>, from: Int) -> Int? {
        guard from >= 0 && from < bytes.count else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, let found = memchr(base + from, Int32(byte), buffer.count - from) else {
                return nil
            }
            return UnsafeRawPointer(base).distance(to: found)
        }
    }

    /// Whether `bytes[at..<at + count]` equals `other[otherAt..<otherAt + count]`
    /// (false when either range is out of bounds).
    @inline(__always)
    static func equal(_ bytes: Span<UInt8>, at: Int, _ other: [UInt8], at otherAt: Int, count: Int) -> Bool {
        guard at >= 0, otherAt >= 0, count >= 0, at <= bytes.count - count, otherAt <= other.count - count else {
            return false
        }
        if count == 0 { return true }
        return bytes.withUnsafeBufferPointer { mine in
            other.withUnsafeBufferPointer { theirs in
                memcmp(mine.baseAddress! + at, theirs.baseAddress! + otherAt, count) == 0
            }
        }
    }
}
