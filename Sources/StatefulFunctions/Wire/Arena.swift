import CStatefunProtocol

/// A bump allocator handed to protobuf-c: a request is decoded (or a response
/// built) into a few large chunks, and all of it is freed at once when the arena
/// goes away, instead of one malloc and free per field.
final class Arena {
    private var chunks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer
    private var remaining: Int
    private var nextChunkSize: Int

    /// - Parameter capacity: the size of the first chunk; later chunks double.
    init(capacity: Int) {
        let size = max(capacity, 1024)
        cursor = .allocate(byteCount: size, alignment: 16)
        chunks.append(cursor)
        remaining = size
        nextChunkSize = size * 2
    }

    deinit {
        for chunk in chunks { chunk.deallocate() }
    }

    /// Returns `size` bytes aligned to 16, valid until the arena is released.
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let aligned = (size + 15) & ~15
        if aligned > remaining {
            let chunkSize = max(aligned, nextChunkSize)
            cursor = .allocate(byteCount: chunkSize, alignment: 16)
            chunks.append(cursor)
            remaining = chunkSize
            nextChunkSize = min(chunkSize * 2, 64 << 20)
        }
        let pointer = cursor
        cursor += aligned
        remaining -= aligned
        return pointer
    }

    /// Allocates and initialises one protobuf-c message struct.
    func message<T>(_ type: T.Type, _ initialise: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let pointer = allocate(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
        initialise(pointer)
        return pointer
    }

    /// An array of `count` pointers, for a repeated message field.
    func pointers<T>(to type: T.Type, count: Int) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
        allocate(MemoryLayout<UnsafeMutablePointer<T>?>.stride * max(count, 1))
            .bindMemory(to: UnsafeMutablePointer<T>?.self, capacity: max(count, 1))
    }

    /// A NUL-terminated copy of `string`, for a protobuf-c string field.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let pointer = allocate(utf8.count + 1).bindMemory(to: CChar.self, capacity: utf8.count + 1)
            if let base = utf8.baseAddress {
                UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: utf8.count)
            }
            pointer[utf8.count] = 0
            return pointer
        }
    }

    /// A copy of `bytes`, for a protobuf-c bytes field.
    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let pointer = allocate(bytes.count).bindMemory(to: UInt8.self, capacity: bytes.count)
        bytes.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: $0.count) }
        return ProtobufCBinaryData(len: bytes.count, data: pointer)
    }

    /// Runs `body` with a protobuf-c allocator that allocates from this arena.
    func withAllocator<R>(_ body: (UnsafeMutablePointer<ProtobufCAllocator>) throws -> R) rethrows -> R {
        var allocator = ProtobufCAllocator(
            alloc: { data, size in Unmanaged<Arena>.fromOpaque(data!).takeUnretainedValue().allocate(size) },
            free: { _, _ in },  // freed with the arena
            allocator_data: Unmanaged.passUnretained(self).toOpaque())
        return try withExtendedLifetime(self) { try body(&allocator) }
    }
}

/// Swift values from protobuf-c fields.
extension String {
    init(protobufC pointer: UnsafePointer<CChar>?) {
        self = pointer.map { String(cString: $0) } ?? ""
    }
}

/// Refuses a request whose string fields (proto3 `string`: UTF-8 by definition)
/// are not UTF-8: decoding would silently replace the bad bytes, and a state
/// name or type name that changed in decoding could never match.
func requireUTF8(_ fields: UnsafePointer<CChar>?..., in what: @autoclosure () -> String) throws {
    for field in fields {
        guard let field, String(validatingCString: field) == nil else { continue }
        throw MalformedRequest("\(what()) is not valid UTF-8")
    }
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
    return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        count = size == 0 ? 0 : protobuf_c_message_pack(message, buffer.baseAddress!)
    }
}

/// Decodes one protobuf-c message from `bytes` into a temporary arena and
/// converts it to a Swift value; `nil` when the bytes do not decode.
func decodeProtobufC<Message, Value>(
    _ bytes: [UInt8],
    _ unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?,
    _ convert: (UnsafeMutablePointer<Message>) throws -> Value
) rethrows -> Value? {
    let arena = Arena(capacity: bytes.count * 2 + 256)
    return try arena.withAllocator { allocator in
        try bytes.withUnsafeBufferPointer { buffer in try unpack(allocator, buffer.count, buffer.baseAddress).map(convert) }
    }
}

/// Builds one protobuf-c message in a temporary arena and packs it.
func encodeProtobufC<Message>(capacity: Int, _ build: (Arena) -> UnsafeMutablePointer<Message>) -> [UInt8] {
    let arena = Arena(capacity: capacity + 256)
    return withExtendedLifetime(arena) {
        build(arena).withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { packProtobufC($0) }
    }
}
