import CStatefunProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bump allocator handed to protobuf-c: a request is decoded (or a reply
/// built) into a few large chunks, and all of it is freed at once when the arena
/// goes away, instead of one malloc and free per field.
///
/// Building: every message (``message(_:_:)``), string (``string(_:)``,
/// ``strings(_:)``) and bytes field (``binary(_:)``) is made here and counts
/// itself in ``packedSizeBound``, by which ``pack(_:)`` sizes its output; a
/// field can only be filled with the ``FieldBytes`` these make. Nothing a
/// builder adds escapes the count, so the bound holds by construction.
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

    /// The first chunk, and the chunks added when it ran out (most requests need none).
    private let first: Chunk
    private let bump: UnsafeMutablePointer<Bump>
    // Unchecked exclusivity here and on the properties below: an arena belongs
    // to one request on one thread, and a dynamic access check (one in `deinit`
    // and one in `pack` per request) costs more than what it guards.
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

    // MARK: Building, and packing without a sizing pass

    /// At least the packed size of the messages built here: the sum, over every
    /// message, string and bytes field made by this arena, of its length and
    /// room for its tag, its length prefix and (for a message) its scalar
    /// fields. ``pack(_:)`` sizes its output by it, which spares protobuf-c's
    /// sizing pass over the whole tree (a tenth of an encoding).
    @exclusivity(unchecked) private(set) var packedSizeBound = 0
    /// A message's tag and length prefix (2 + 5 bytes: field numbers are below
    /// 2048, lengths below 2^35) and its scalar fields (at most 22 bytes in these
    /// schemas: an expiration spec's enum and int64, each 11 with its tag).
    static let messageRoom = 40
    /// A string or bytes field's tag and length prefix (2 + 5 bytes), rounded up.
    static let fieldRoom = 8

    /// Allocates and initialises one protobuf-c message struct, counted in the bound.
    func message<T>(_ type: T.Type, _ initialise: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let pointer = allocate(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
        packedSizeBound += Self.messageRoom
        initialise(pointer)
        return pointer
    }

    /// An array of `count` pointers, for a repeated message field (the
    /// messages count themselves; the array is not on the wire).
    func pointers<T>(to type: T.Type, count: Int) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
        allocate(MemoryLayout<UnsafeMutablePointer<T>?>.stride * max(count, 1))
            .bindMemory(to: UnsafeMutablePointer<T>?.self, capacity: max(count, 1))
    }

    /// Packs `root`, a message built with this arena (it may itself live
    /// elsewhere: its own room is added here), into an array made for the
    /// bound. Debug builds (the tests, the fuzzers) check the bound against
    /// protobuf-c's size.
    func pack(_ root: UnsafePointer<ProtobufCMessage>) -> [UInt8] {
        let bound = packedSizeBound + Self.messageRoom
        #if DEBUG
        let exact = protobuf_c_message_get_packed_size(root)
        precondition(exact <= bound, "packed size \(exact) exceeds the arena's bound \(bound)")
        #endif
        let packed = withExtendedLifetime(self) {
            lent.isEmpty
                ? packedArray(atMost: bound) { protobuf_c_message_pack(root, $0.baseAddress!) }
                : withLentBytes(from: 0) { packedArray(atMost: bound) { protobuf_c_message_pack(root, $0.baseAddress!) } }
        }
        // The bound counts room for every field: a large reply much smaller
        // than it is copied into an array of its size rather than held in one of the bound's.
        if bound - packed.count > max(4096, packed.count) {
            return packed.withUnsafeBufferPointer { Array($0) }
        }
        return packed
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
    /// in the schemas, so that a NUL is kept: see Protos/), counted in the
    /// bound. The copy may be shared with other fields (protobuf-c only reads it).
    func string(_ string: String) -> FieldBytes {
        packedSizeBound += string.utf8.count + Self.fieldRoom
        // The same string again (one type URL for a whole batch) is the same
        // storage: comparing it costs less than finding its bytes among the recent ones.
        if let last = lastString, last.string == string { return FieldBytes(last.copy) }
        let copy = string.utf8.withContiguousStorageIfAvailable({ self.copy($0) }) ?? {
            var string = string
            return string.withUTF8 { self.copy($0) }
        }()
        lastString = (string, copy)
        return FieldBytes(copy)
    }

    /// The string ``string(_:)`` copied last, and its copy.
    @exclusivity(unchecked) private var lastString: (string: String, copy: ProtobufCBinaryData)?

    /// The namespace and the name of `type`, for the address and egress
    /// fields, counted in the bound: one copy of the typename, both parts
    /// pointing into it, reused while the same type comes again (equal types
    /// compare at once when they share their string, by bytes otherwise).
    func strings(_ type: FunctionType) -> (namespace: FieldBytes, name: FieldBytes) {
        packedSizeBound += type.typename.utf8.count + 2 * Self.fieldRoom
        if let last = lastType, last.type == type { return (FieldBytes(last.copies.namespace), FieldBytes(last.copies.name)) }
        let whole = type.typename.utf8.withContiguousStorageIfAvailable({ copy($0) }) ?? {
            var typename = type.typename
            return typename.withUTF8 { copy($0) }
        }()
        let separator = type.separator
        let copies = (namespace: ProtobufCBinaryData(len: separator, data: separator == 0 ? nil : whole.data),
                      name: ProtobufCBinaryData(len: whole.len - separator - 1, data: whole.data.map { $0 + separator + 1 }))
        lastType = (type, copies)
        return (FieldBytes(copies.namespace), FieldBytes(copies.name))
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

    /// A copy of `bytes` for a bytes field, counted in the bound (a large
    /// value of a reply can be lent instead: ``lend(_:to:)``).
    func binary(_ bytes: [UInt8]) -> FieldBytes {
        packedSizeBound += bytes.count + Self.fieldRoom
        guard !bytes.isEmpty else { return .empty }
        let pointer = allocate(bytes.count).bindMemory(to: UInt8.self, capacity: bytes.count)
        bytes.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: $0.count) }
        return FieldBytes(ProtobufCBinaryData(len: bytes.count, data: pointer))
    }

    /// Values at least this large are lent to a reply rather than copied into it (``lend(_:to:)``).
    static let lentBytesThreshold = 16 * 1024
    /// The most arrays lent to one message (each is a nested closure while packing); more are copied.
    static let maxLent = 64
    /// The arrays lent to the message built here, and how to point its field at them.
    @exclusivity(unchecked) private var lent: [(bytes: [UInt8], point: (ProtobufCBinaryData) -> Void)] = []

    /// Counts `bytes` in the bound for a bytes field that `point` sets, without
    /// copying them: `point` gets the array's storage only while ``pack(_:)``
    /// runs, inside the closure that lends it (and only its length otherwise).
    /// `false` when the value is small, or too many are lent already: copy it.
    func lend(_ bytes: [UInt8], to point: @escaping (ProtobufCBinaryData) -> Void) -> Bool {
        guard bytes.count >= Self.lentBytesThreshold, lent.count < Self.maxLent else { return false }
        packedSizeBound += bytes.count + Self.fieldRoom
        point(ProtobufCBinaryData(len: bytes.count, data: nil))
        lent.append((bytes, point))
        return true
    }

    /// Runs `body` with the lent arrays from `index` on in their fields, each
    /// for the length of the closure that lends its storage.
    private func withLentBytes<R>(from index: Int, _ body: () -> R) -> R {
        guard index < lent.count else { return body() }
        let (bytes, point) = lent[index]
        return bytes.withUnsafeBufferPointer { buffer in
            point(ProtobufCBinaryData(len: buffer.count, data: UnsafeMutablePointer(mutating: buffer.baseAddress)))
            defer { point(ProtobufCBinaryData(len: buffer.count, data: nil)) }
            return withLentBytes(from: index + 1, body)
        }
    }

    // MARK: Decoding

    /// The times protobuf-c freed memory while decoding into this arena: its
    /// scratch space for messages of many fields, and a field it replaced
    /// because it occurred again (see ``WireNormalizer``).
    var frees: Int { bump.pointee.frees }

    /// Runs `body` with a protobuf-c allocator that allocates from this arena.
    func withAllocator<R>(_ body: (UnsafeMutablePointer<ProtobufCAllocator>) throws -> R) rethrows -> R {
        // The arena outlives the allocator (withExtendedLifetime below): no retain per allocation.
        bump.pointee.arena = Unmanaged.passUnretained(self).toOpaque()
        defer { bump.pointee.arena = nil }
        var allocator = ProtobufCAllocator(
            // What fits in the current chunk is bumped here, as ``allocate(_:)``
            // does; the rest (a new chunk) goes to the arena.
            alloc: { data, size in
                let bump = data.unsafelyUnwrapped.assumingMemoryBound(to: Bump.self)
                if let pointer = bump.pointee.region.take(size) { return pointer }
                return Unmanaged<Arena>.fromOpaque(bump.pointee.arena.unsafelyUnwrapped)
                    ._withUnsafeGuaranteedRef { $0.allocate(size) }
            },
            // Freed with the arena; only counted (see ``frees``).
            free: { data, _ in data.unsafelyUnwrapped.assumingMemoryBound(to: Bump.self).pointee.frees += 1 },
            allocator_data: UnsafeMutableRawPointer(bump))
        return try withExtendedLifetime(self) { try body(&allocator) }
    }
}

/// The content of one string or bytes field of a message being built: bytes
/// that an ``Arena`` made and counted in its packed-size bound. Only the arena
/// makes one (its initialiser is private to Arena.swift), and the schemas'
/// builders take nothing else for a string or bytes field.
struct FieldBytes {
    let data: ProtobufCBinaryData

    fileprivate init(_ data: ProtobufCBinaryData) {
        self.data = data
    }

    /// An empty field (it adds nothing to the packed size).
    static var empty: FieldBytes { FieldBytes(ProtobufCBinaryData(len: 0, data: nil)) }
}

/// The free part of a chunk of memory, allocated from the front: an arena's
/// current chunk, a scratch allocator's stack buffer.
struct BumpRegion {
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
