import Glibc

// Byte scans over spans: the session's header fields and DATA, lent by
// nghttp2 for one callback, compared, copied and decoded here without a
// pointer leaving this folder.

extension Array where Element == UInt8 {
    /// A copy of `bytes`.
    @inline(__always)
    init(copying bytes: Span<UInt8>) {
        self = bytes.withUnsafeBufferPointer { Array($0) }
    }

    /// Appends a copy of `bytes`.
    @inline(__always)
    mutating func append(copying bytes: Span<UInt8>) {
        bytes.withUnsafeBufferPointer { append(contentsOf: $0) }
    }

    /// Whether the array holds exactly `bytes`.
    @inline(__always)
    func equals(_ bytes: Span<UInt8>) -> Bool {
        guard count == bytes.count else { return false }
        return withUnsafeBufferPointer { mine in
            bytes.withUnsafeBufferPointer { theirs in
                mine.isEmpty || memcmp(mine.baseAddress!, theirs.baseAddress!, mine.count) == 0
            }
        }
    }
}

/// Whether `bytes`, lowercased, are `name` (lowercase ASCII).
@inline(__always) func bytesEqualLowercase(_ bytes: Span<UInt8>, _ name: StaticString) -> Bool {
    bytes.withUnsafeBufferPointer { bytesEqualLowercase($0, name) }
}

/// `bytes` as a string (invalid UTF-8 repaired).
@inline(__always) func makeString(_ bytes: Span<UInt8>) -> String {
    bytes.withUnsafeBufferPointer { makeString($0) }
}

/// A header name or value as a string, the common ones without building one.
@inline(__always) func makeHeaderString(_ bytes: Span<UInt8>) -> String {
    bytes.withUnsafeBufferPointer { makeHeaderString($0) }
}
