import SwiftProtobuf

/// `[UInt8]` as swift-protobuf's encoder makes it, with each requirement
/// written for bytes: the encoder, generic over its output, then calls code
/// specialized here instead of `Array`'s generic code, which looks the array
/// type up at run time (about 500 instructions per message).
struct ProtobufBytes: SwiftProtobufContiguousBytes {
    var bytes: [UInt8]

    init(repeating: UInt8, count: Int) {
        // Copied from a collection: `Array(repeating:count:)` would allocate
        // through the standard library's unspecialized code.
        bytes = Array(repeatElement(repeating, count: count))
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        bytes = Array(sequence)
    }

    var count: Int { bytes.count }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeMutableBytes(body)
    }
}
