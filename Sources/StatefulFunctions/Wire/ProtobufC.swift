import CStatefunProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// protobuf-c's fields as Swift values, and packing and decoding a single
// message outside a request's arena.

/// Swift values from protobuf-c fields.
extension ProtobufCBinaryData {
    /// A field that points at `buffer` (protobuf-c only reads it when packing).
    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.init(len: buffer.count, data: UnsafeMutablePointer(mutating: buffer.baseAddress))
    }

    /// The field's bytes (empty when absent).
    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: data, count: data == nil ? 0 : len) }

    /// Whether the field holds exactly `known`.
    func equals(_ known: [UInt8]) -> Bool {
        guard known.count == len else { return false }
        return len == 0 || known.withUnsafeBufferPointer { memcmp($0.baseAddress!, data, len) == 0 }
    }

    /// Whether two fields hold the same bytes.
    func equals(_ other: ProtobufCBinaryData) -> Bool {
        len == other.len && (len == 0 || data == other.data || memcmp(data, other.data, len) == 0)
    }
}

extension String {
    /// A string field (declared `bytes`, see Protos/), which proto3 requires
    /// to be UTF-8: a request whose field is not is malformed (`what` names
    /// the field), as the official SDKs refuse it.
    init(utf8Field field: ProtobufCBinaryData, _ what: @autoclosure () -> String) throws {
        guard let string = String(validatingUTF8Field: field.bytes) else {
            throw MalformedRequest("\(what()) is not valid UTF-8")
        }
        self = string
    }

    /// The string of `bytes` when they are UTF-8. (`String(validating:as:)`
    /// is generic and looks up type metadata on every call: too slow here.)
    init?(validatingUTF8Field bytes: UnsafeBufferPointer<UInt8>) {
        // Decoding repairs what is not UTF-8 (each bad sequence becomes
        // U+FFFD), and a repaired string differs from its bytes.
        let string = String(decoding: bytes, as: UTF8.self)
        if !isASCII(bytes) {
            var copy = string
            guard copy.withUTF8({ $0.count == bytes.count && memcmp($0.baseAddress!, bytes.baseAddress!, $0.count) == 0 })
            else { return nil }
        }
        self = string
    }

    /// A string field from a source trusted to be UTF-8 (the SDK's own
    /// replies, read back by the runtime kit): invalid bytes are repaired.
    init(repairing field: ProtobufCBinaryData) {
        self = String(decoding: field.bytes, as: UTF8.self)
    }
}

/// Refuses a request whose string fields are not UTF-8 (proto3 requires it of
/// a `string`): a state name or type name that changed in decoding could never match.
func requireUTF8(_ fields: ProtobufCBinaryData..., in what: @autoclosure () -> String) throws {
    for field in fields where !isUTF8(field.bytes) { throw MalformedRequest("\(what()) is not valid UTF-8") }
}

/// Whether `bytes` are UTF-8; ASCII (every name the runtime sends, in practice) needs no decoding.
func isUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    isASCII(bytes) || String(validatingUTF8Field: bytes) != nil
}

/// Whether every byte is below 0x80, eight at a time.
@inline(__always) func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    let raw = UnsafeRawPointer(base)
    var i = 0
    while i + 8 <= bytes.count {
        if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
        i += 8
    }
    while i < bytes.count {
        if base[i] >= 0x80 { return false }
        i += 1
    }
    return true
}

extension Array where Element == UInt8 {
    init(protobufC data: ProtobufCBinaryData) {
        guard data.len > 0, let bytes = data.data else { self = []; return }
        self.init(UnsafeBufferPointer(start: bytes, count: data.len))
    }
}

/// Packs a protobuf-c message into one contiguous Swift array.
func packProtobufC(_ message: UnsafePointer<ProtobufCMessage>) -> [UInt8] {
    let size = protobuf_c_message_get_packed_size(message)
    return packedArray(atMost: size) { size == 0 ? 0 : protobuf_c_message_pack(message, $0.baseAddress!) }
}

/// An array of the bytes `write` writes (at most `size`; it returns how many).
/// A small message is written on the stack and copied into an array made from
/// a buffer: `Array(unsafeUninitializedCapacity:)` is not specialized here and
/// looks up the array's runtime metadata each time, which costs more than the copy.
func packedArray(atMost size: Int, _ write: (UnsafeMutableBufferPointer<UInt8>) -> Int) -> [UInt8] {
    if size <= 512 {
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 512) { buffer in
            Array(UnsafeBufferPointer(rebasing: buffer[0..<write(buffer)]))
        }
    }
    return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in count = write(buffer) }
}

/// Packs a protobuf-c message struct (one of the generated `…__init`ed types).
func packProtobufC<Message>(_ message: inout Message) -> [UInt8] {
    withUnsafePointer(to: &message) {
        $0.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { packProtobufC($0) }
    }
}

/// Decodes one protobuf-c message from `bytes` into a temporary arena and
/// converts it to a Swift value; `nil` when the bytes do not decode.
func decodeProtobufC<Message, Value>(
    _ bytes: [UInt8],
    _ unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?,
    _ convert: (UnsafeMutablePointer<Message>) throws -> Value
) rethrows -> Value? {
    try withScratchAllocator(capacity: min(bytes.count * 2 + 256, 2048)) { allocator in
        try bytes.withUnsafeBufferPointer { buffer in try unpack(allocator, buffer.count, buffer.baseAddress).map(convert) }
    }
}

/// Where a scratch allocator stands: its stack buffer, then an arena for what does not fit.
private struct ScratchState {
    var region: BumpRegion
    var overflow: Arena?
}

/// Runs `body` with a protobuf-c allocator that bumps through `capacity` bytes
/// of stack, then an arena: decoding a small message costs no heap allocation.
/// Everything is freed when `body` returns.
func withScratchAllocator<R>(
    capacity: Int, _ body: (UnsafeMutablePointer<ProtobufCAllocator>) throws -> R
) rethrows -> R {
    try withUnsafeTemporaryAllocation(byteCount: max(capacity, 64), alignment: 16) { buffer in
        var state = ScratchState(region: BumpRegion(cursor: buffer.baseAddress!, remaining: buffer.count), overflow: nil)
        return try withUnsafeMutablePointer(to: &state) { statePointer in
            var allocator = ProtobufCAllocator(
                alloc: { data, size in
                    let state = data!.assumingMemoryBound(to: ScratchState.self)
                    if let pointer = state.pointee.region.take(size) { return pointer }
                    if state.pointee.overflow == nil { state.pointee.overflow = Arena(capacity: max(size, 4096)) }
                    return state.pointee.overflow!.allocate(size)
                },
                free: { _, _ in },  // freed all at once
                allocator_data: UnsafeMutableRawPointer(statePointer))
            return try body(&allocator)
        }
    }
}
