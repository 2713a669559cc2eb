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

/// `bytes` equals the lowercase ASCII `name`, ignoring case.
@inline(__always) func bytesEqualLowercase(_ bytes: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Bool {
    guard bytes.count == name.utf8CodeUnitCount else { return false }
    let n = name.utf8Start
    for i in 0..<bytes.count where asciiLower(bytes[i]) != n[i] { return false }
    return true
}

@inline(__always) func makeString(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// The header names and values nearly every request carries, as constant
/// strings by length: a request head then costs no string building for them.
private let commonHeaderStrings: [[(bytes: [UInt8], string: String)]] = {
    let strings = [
        "Host", "host", "Content-Type", "content-type", "Content-Length", "content-length", "User-Agent",
        "user-agent", "Accept", "accept", "Connection", "connection", "keep-alive", "close", "*/*",
        "application/octet-stream", "application/json", "text/plain", "POST", "GET",
    ]
    var byLength = [[(bytes: [UInt8], string: String)]](repeating: [], count: 1 + strings.map(\.utf8.count).max()!)
    for string in strings { byLength[string.utf8.count].append((Array(string.utf8), string)) }
    return byLength
}()

/// `makeString`, with the common header names and values (and methods) shared.
func makeHeaderString(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
    if bytes.count < commonHeaderStrings.count {
        for common in commonHeaderStrings[bytes.count] {
            if common.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) {
                return common.string
            }
        }
    }
    return makeString(bytes)
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
