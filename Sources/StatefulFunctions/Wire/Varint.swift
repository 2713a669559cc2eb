/// The one reader of protobuf varints, for every walk over wire bytes outside
/// protobuf-c: the request normalizer, the built-in types' fast paths, the
/// error messages' field search, and (through the `package` form) the server's
/// request description and statefun-local's JSON transcoding.
///
/// As protobuf reads a varint: at most ten bytes, the bits past the 64th
/// dropped (a tenth byte above 1 is read, not refused); `nil` when the bytes
/// end inside it or it runs past ten bytes.
@inline(__always)
func readVarint(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (UInt64, Int)? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    var at = index
    while at < bytes.count && shift < 64 {
        let byte = bytes[at]
        value |= UInt64(byte & 0x7F) << shift
        at += 1
        if byte & 0x80 == 0 { return (value, at) }
        shift += 7
    }
    return nil
}

/// The varint at the start of `bytes` and how many bytes it takes (see
/// ``readVarint(_:at:)``), for readers that hold their bytes as a slice.
package func readVarint(_ bytes: ArraySlice<UInt8>) -> (value: UInt64, length: Int)? {
    bytes.withUnsafeBufferPointer { buffer in readVarint(buffer, at: 0).map { ($0.0, $0.1) } }
}
