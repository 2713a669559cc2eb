import CStatefunProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StatefunLocks

/// A bump allocator handed to protobuf-c: a request is decoded (or a response
/// built) into a few large chunks, and all of it is freed at once when the arena
/// goes away, instead of one malloc and free per field.
final class Arena {
    private struct Chunk {
        let pointer: UnsafeMutableRawPointer
        let size: Int
    }

    /// Where the next allocation goes, at the start of the first chunk: the
    /// allocator handed to protobuf-c bumps it without calling into the arena.
    private struct Bump {
        var region: BumpRegion
        /// The arena, unretained, for what does not fit (set by ``withAllocator(_:)``).
        var arena: UnsafeMutableRawPointer?
        /// The times protobuf-c freed memory (see ``frees``).
        var frees = 0
    }
    /// The room ``Bump`` takes at the start of the first chunk (16-byte aligned).
    private static let bumpRoom = (MemoryLayout<Bump>.stride + 15) & ~15

    // Unchecked exclusivity: an arena belongs to one request on one thread,
    // and a dynamic access check on every allocation costs more than the bump.
    /// The first chunk, and the chunks added when it ran out (most requests need none).
    private let first: Chunk
    private let bump: UnsafeMutablePointer<Bump>
    @exclusivity(unchecked) private var more: [Chunk] = []
    @exclusivity(unchecked) private var nextChunkSize: Int

    /// - Parameter capacity: the size of the first chunk; later chunks double.
    init(capacity: Int) {
        let chunk = ChunkPool.shared.take(atLeast: max(capacity, 1024))
        first = Chunk(pointer: chunk.pointer, size: chunk.size)
        bump = chunk.pointer.bindMemory(to: Bump.self, capacity: 1)
        bump.initialize(
            to: Bump(region: BumpRegion(cursor: chunk.pointer + Self.bumpRoom, remaining: chunk.size - Self.bumpRoom), arena: nil))
        nextChunkSize = chunk.size * 2
    }

    deinit {
        ChunkPool.shared.give((first.pointer, first.size))
        for chunk in more { ChunkPool.shared.give((chunk.pointer, chunk.size)) }
    }

    /// Returns `size` bytes aligned to 16, valid until the arena is released.
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        if let pointer = bump.pointee.region.take(size) { return pointer }
        addChunk(size)
        return bump.pointee.region.take(size)!
    }

    private func addChunk(_ needed: Int) {
        let chunk = ChunkPool.shared.take(atLeast: max((needed + 15) & ~15, nextChunkSize))
        more.append(Chunk(pointer: chunk.pointer, size: chunk.size))
        bump.pointee.region = BumpRegion(cursor: chunk.pointer, remaining: chunk.size)
        nextChunkSize = min(chunk.size * 2, 64 << 20)
    }

    /// Allocates and initialises one protobuf-c message struct.
    func message<T>(_ type: T.Type, _ initialise: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let pointer = allocate(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
        packedSizeBound += Self.messageRoom
        initialise(pointer)
        return pointer
    }

    // MARK: Packing without a sizing pass

    /// At least the packed size of the messages built here: the sum, over every
    /// message, string and bytes field made by this arena's helpers, of its
    /// length and room for its tag, its length prefix and (for a message) its
    /// scalar fields. ``pack(_:)`` sizes its output by it, which spares
    /// protobuf-c's sizing pass over the whole tree (a tenth of an encoding).
    @exclusivity(unchecked) private(set) var packedSizeBound = 0
    /// A message's tag and length prefix (2 + 5 bytes: field numbers are below
    /// 2048, lengths below 2^35) and its scalar fields (at most 22 bytes in these
    /// schemas: an expiration spec's enum and int64, each 11 with its tag).
    static let messageRoom = 40
    /// A string or bytes field's tag and length prefix (2 + 5 bytes), rounded up.
    static let fieldRoom = 8

    /// Packs `root`, a message built with this arena's helpers (it may itself
    /// live elsewhere), into an array made for ``packedSizeBound``. Debug
    /// builds (the tests, the fuzzers) check the bound against protobuf-c's size.
    func pack(_ root: UnsafePointer<ProtobufCMessage>) -> [UInt8] {
        let bound = packedSizeBound + Self.messageRoom
        #if DEBUG
        let exact = protobuf_c_message_get_packed_size(root)
        precondition(exact <= bound, "packed size \(exact) exceeds the arena's bound \(bound)")
        #endif
        let packed = withExtendedLifetime(self) {
            packedArray(atMost: bound) { protobuf_c_message_pack(root, $0.baseAddress!) }
        }
        // The bound counts room for every field: a large reply much smaller
        // than it is copied into an array of its size rather than held in one of the bound's.
        if bound - packed.count > max(4096, packed.count) {
            return packed.withUnsafeBufferPointer { Array($0) }
        }
        return packed
    }

    /// An array of `count` pointers, for a repeated message field.
    func pointers<T>(to type: T.Type, count: Int) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
        allocate(MemoryLayout<UnsafeMutablePointer<T>?>.stride * max(count, 1))
            .bindMemory(to: UnsafeMutablePointer<T>?.self, capacity: max(count, 1))
    }

    /// The strings copied last, reused when the same string comes again: the
    /// messages of a batch mostly repeat their type URLs, targets and egresses.
    /// Four fixed slots, not a collection: a hit must cost less than the copy.
    /// A slot is a copy in the arena, matched by its bytes, so the arena holds
    /// no reference to the strings themselves.
    @exclusivity(unchecked) private var recent: (ProtobufCBinaryData?, ProtobufCBinaryData?,
                                                 ProtobufCBinaryData?, ProtobufCBinaryData?) = (nil, nil, nil, nil)
    @exclusivity(unchecked) private var nextRecent = 0

    /// A copy of `string`'s UTF-8 bytes for a string field (declared `bytes`
    /// in the schemas, so that a NUL is kept: see Protos/). The copy may be
    /// shared with other fields (protobuf-c only reads it).
    func string(_ string: String) -> ProtobufCBinaryData {
        packedSizeBound += string.utf8.count + Self.fieldRoom
        // The same string again (one type URL for a whole batch) is the same
        // storage: comparing it costs less than finding its bytes among the recent ones.
        if let last = lastString, last.string == string { return last.copy }
        let copy = string.utf8.withContiguousStorageIfAvailable({ self.copy($0) }) ?? {
            var string = string
            return string.withUTF8 { self.copy($0) }
        }()
        lastString = (string, copy)
        return copy
    }

    /// The string ``string(_:)`` copied last, and its copy.
    @exclusivity(unchecked) private var lastString: (string: String, copy: ProtobufCBinaryData)?

    /// The namespace and the name of `type`, for the address and egress
    /// fields: one copy of the typename, both parts pointing into it, reused
    /// while the same type comes again (equal types compare at once when they
    /// share their string, by bytes otherwise).
    func strings(_ type: FunctionType) -> (namespace: ProtobufCBinaryData, name: ProtobufCBinaryData) {
        packedSizeBound += type.typename.utf8.count + 2 * Self.fieldRoom
        if let last = lastType, last.type == type { return last.copies }
        let whole = type.typename.utf8.withContiguousStorageIfAvailable({ copy($0) }) ?? {
            var typename = type.typename
            return typename.withUTF8 { copy($0) }
        }()
        let separator = type.separator
        let copies = (ProtobufCBinaryData(len: separator, data: separator == 0 ? nil : whole.data),
                      ProtobufCBinaryData(len: whole.len - separator - 1, data: whole.data.map { $0 + separator + 1 }))
        lastType = (type, copies)
        return copies
    }

    /// The function type ``strings(_:)`` copied last, and its copies.
    @exclusivity(unchecked) private var lastType:
        (type: FunctionType, copies: (namespace: ProtobufCBinaryData, name: ProtobufCBinaryData))?

    private func copy(_ utf8: UnsafeBufferPointer<UInt8>) -> ProtobufCBinaryData {
        func matches(_ slot: ProtobufCBinaryData?) -> ProtobufCBinaryData? {
            guard let slot, slot.len == utf8.count else { return nil }
            return slot.len == 0 || memcmp(slot.data, utf8.baseAddress!, slot.len) == 0 ? slot : nil
        }
        guard let base = utf8.baseAddress, !utf8.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        if let copy = matches(recent.0) ?? matches(recent.1) ?? matches(recent.2) ?? matches(recent.3) { return copy }
        let pointer = allocate(utf8.count).bindMemory(to: UInt8.self, capacity: utf8.count)
        pointer.initialize(from: base, count: utf8.count)
        let copy = ProtobufCBinaryData(len: utf8.count, data: pointer)
        switch nextRecent {
        case 0: recent.0 = copy
        case 1: recent.1 = copy
        case 2: recent.2 = copy
        default: recent.3 = copy
        }
        nextRecent = (nextRecent + 1) & 3
        return copy
    }

    // Large bytes fields are not copied between Swift arrays and the arena.
    // Decoding: protobuf-c allocates a bytes field's exact size and copies the
    // field into it; an allocation this large is a Swift array's storage, so
    // the field becomes an `AnyMessage`'s value as it is (``bytes(_:)``).
    // Encoding: a value this large is pointed at where the array holds it.
    // Below the size, a copy costs less than an array.
    static let sharedBytesThreshold = 16 * 1024
    /// The arrays whose storage this arena lent to protobuf-c (decoding) or
    /// points protobuf-c at (encoding): kept alive as long as the arena.
    @exclusivity(unchecked) private var sharedArrays: [[UInt8]] = []
    /// Where ``bytes(_:)`` starts looking in `sharedArrays`.
    @exclusivity(unchecked) private var sharedCursor = 0

    /// `size` bytes for protobuf-c: from the arena, or the storage of a new
    /// Swift array when large (its bytes stay uninitialised until protobuf-c
    /// writes them; an array never adopted is only freed).
    func allocateForProtobufC(_ size: Int) -> UnsafeMutableRawPointer {
        guard size >= Self.sharedBytesThreshold else { return allocate(size) }
        var storage: UnsafeMutableRawPointer?
        let array = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            storage = UnsafeMutableRawPointer(buffer.baseAddress)
            count = size
        }
        sharedArrays.append(array)
        return storage!
    }

    /// A decoded bytes field as a Swift array: the array protobuf-c wrote it
    /// into when it was large (``allocateForProtobufC(_:)``), else a copy.
    func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
        if data.len >= Self.sharedBytesThreshold, let field = data.data {
            // Fields are mostly asked for in the order protobuf-c allocated
            // them: the search starts after the last match (linear in the
            // number of large fields, not quadratic) and wraps around.
            let count = sharedArrays.count
            var i = count == 0 ? 0 : sharedCursor % count
            for _ in 0..<count {
                let array = sharedArrays[i]
                i = i + 1 == count ? 0 : i + 1
                if array.count == data.len && array.withUnsafeBufferPointer({ $0.baseAddress == UnsafePointer(field) }) {
                    sharedCursor = i
                    return array
                }
            }
        }
        return [UInt8](protobufC: data)
    }

    /// `bytes` for a protobuf-c bytes field: a copy in the arena, or, when
    /// large, the array's own storage (the arena keeps the array alive).
    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        packedSizeBound += bytes.count + Self.fieldRoom
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        if bytes.count >= Self.sharedBytesThreshold {
            sharedArrays.append(bytes)
            let storage = bytes.withUnsafeBufferPointer { UnsafeMutablePointer(mutating: $0.baseAddress!) }
            return ProtobufCBinaryData(len: bytes.count, data: storage)
        }
        let pointer = allocate(bytes.count).bindMemory(to: UInt8.self, capacity: bytes.count)
        bytes.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: $0.count) }
        return ProtobufCBinaryData(len: bytes.count, data: pointer)
    }

    /// The times protobuf-c freed memory while decoding into this arena: its
    /// scratch space for messages of many fields, and a field it replaced
    /// because it occurred again (see ``WireNormalizer``).
    var frees: Int { bump.pointee.frees }

    /// Runs `body` with a protobuf-c allocator that allocates from this arena.
    func withAllocator<R>(_ body: (UnsafeMutablePointer<ProtobufCAllocator>) throws -> R) rethrows -> R {
        // The arena outlives the allocator (withExtendedLifetime below): no retain per allocation.
        bump.pointee.arena = Unmanaged.passUnretained(self).toOpaque()
        var allocator = ProtobufCAllocator(
            // What fits in the current chunk is bumped here, as ``allocate(_:)``
            // does; the rest (a new chunk, a large field's array) goes to the arena.
            alloc: { data, size in
                let bump = data.unsafelyUnwrapped.assumingMemoryBound(to: Bump.self)
                if size < Arena.sharedBytesThreshold, let pointer = bump.pointee.region.take(size) { return pointer }
                return Unmanaged<Arena>.fromOpaque(bump.pointee.arena.unsafelyUnwrapped)
                    ._withUnsafeGuaranteedRef { $0.allocateForProtobufC(size) }
            },
            // Freed with the arena; only counted (see ``frees``).
            free: { data, _ in data.unsafelyUnwrapped.assumingMemoryBound(to: Bump.self).pointee.frees += 1 },
            allocator_data: UnsafeMutableRawPointer(bump))
        return try withExtendedLifetime(self) { try body(&allocator) }
    }
}

/// Arena chunks kept for reuse: requests come one after another with bodies of
/// similar size, and a fresh large chunk each time would cost the page faults
/// of memory the allocator maps and unmaps (most of the time of a 64 KiB
/// state, before this pool). Sizes are powers of two so that chunks fit again.
final class ChunkPool: Sendable {
    static let shared = ChunkPool()

    /// The most chunks kept, the largest chunk kept, and the most bytes kept in all:
    /// a burst of large requests must not leave its memory held for good.
    private static let maxKept = 32
    private static let maxKeptSize = 8 << 20
    private static let maxKeptBytes = 16 << 20

    private struct Chunk: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        let size: Int
    }

    private struct Kept {
        var chunks: [Chunk] = []
        var bytes = 0
    }

    private let kept = Lock(Kept())

    deinit {
        kept.withLock { kept in
            for chunk in kept.chunks { chunk.pointer.deallocate() }
            kept = Kept()
        }
    }

    /// The bytes held for reuse.
    var keptBytes: Int { kept.withLock { $0.bytes } }

    func take(atLeast size: Int) -> (pointer: UnsafeMutableRawPointer, size: Int) {
        let size = size <= 1024 ? 1024 : 1 << (Int.bitWidth - (size - 1).leadingZeroBitCount)
        if size <= Self.maxKeptSize {
            let reused = kept.withLock { kept -> Chunk? in
                guard let index = kept.chunks.lastIndex(where: { $0.size == size }) else { return nil }
                kept.bytes -= size
                return kept.chunks.remove(at: index)
            }
            if let reused { return (reused.pointer, reused.size) }
        }
        return (.allocate(byteCount: size, alignment: 16), size)
    }

    func give(_ chunk: (pointer: UnsafeMutableRawPointer, size: Int)) {
        if chunk.size <= Self.maxKeptSize {
            let keptIt = kept.withLock { kept -> Bool in
                guard kept.chunks.count < Self.maxKept, kept.bytes + chunk.size <= Self.maxKeptBytes else { return false }
                kept.chunks.append(Chunk(pointer: chunk.pointer, size: chunk.size))
                kept.bytes += chunk.size
                return true
            }
            if keptIt { return }
        }
        chunk.pointer.deallocate()
    }
}

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

/// The free part of a chunk of memory, allocated from the front: an arena's
/// current chunk, a scratch allocator's stack buffer.
private struct BumpRegion {
    var cursor: UnsafeMutableRawPointer
    var remaining: Int

    /// `size` bytes rounded up to 16 (16-aligned when the region starts so),
    /// or `nil` when they do not fit.
    @inline(__always) mutating func take(_ size: Int) -> UnsafeMutableRawPointer? {
        let aligned = (size + 15) & ~15
        guard aligned <= remaining else { return nil }
        let pointer = cursor
        cursor += aligned
        remaining -= aligned
        return pointer
    }
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

/// Builds one protobuf-c message in a temporary arena and packs it.
func encodeProtobufC<Message>(capacity: Int, _ build: (Arena) -> UnsafeMutablePointer<Message>) -> [UInt8] {
    let arena = Arena(capacity: capacity + 256)
    return build(arena).withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { arena.pack($0) }
}
