/// Protobuf's parsing rules where protobuf-c departs from them, for requests.
///
/// protobuf (and so the official SDKs) parses a message field that occurs more
/// than once as the merge of its occurrences, reads a known field sent with
/// another wire type (or a group) as an unknown field and skips it, accepts
/// varints of up to ten bytes anywhere, and refuses a `string` occurrence that
/// is not UTF-8 even when a later one replaces it. protobuf-c replaces a
/// repeated `oneof` member instead of merging it, merges other message fields
/// by proto2's rules (an explicitly empty later field does not clear an
/// earlier one), fails on a wire-type mismatch, a group or a length prefix of
/// more than five bytes, and sees only the last occurrence of a string.
///
/// The runtime never sends such bytes, so the request path stays cheap: it
/// counts on protobuf-c freeing, while it decodes, nothing but its scratch
/// slabs for messages of many fields (which ``survey(_:)`` counts from the
/// fields of the request and of its batch) and a field it replaces because it
/// occurred again: a `oneof` member (the batch), a message it merges, a
/// string or bytes field (the replaced occurrence, whose UTF-8 protobuf-c
/// never sees). A free more than counted marks the request. (A field sent
/// again after an empty occurrence frees nothing, and is read the same either
/// way.) protobuf-c 1.4 behaves so; `WireMergeTests` and `WireStringTests`
/// pin it.
/// Any such request, and any that protobuf-c refuses, takes the exact path:
/// ``check(_:_:)`` refuses a string occurrence that is not UTF-8 (naming it)
/// and ``normalized(_:_:)`` rewrites the bytes in the form protobuf-c reads as
/// protobuf does: each singular message field once, its occurrences' payloads
/// concatenated (which protobuf defines as their merge), the last occurrence of
/// a scalar, minimal varints, unknown, mismatched and group fields left out.
enum WireNormalizer {
    /// The request messages of both protocols, as far as their parsing goes.
    enum Message {
        case toFunction, batch, persistedValueV2, persistedValueV3, invocationV2, invocationV3
        case address, typedValue, any
        /// The 3.x built-in types' wrappers: one field, number 1.
        case boolWrapper, fixed32Wrapper, fixed64Wrapper, stringWrapper
    }

    /// What a field of a message is.
    enum Field: Equatable {
        /// A singular message field: occurrences merge.
        case message(Message)
        /// A `bytes` field holding a message (2.x state values): the last occurrence wins.
        case embeddedBytes
        case repeatedMessage(Message)
        /// A `string` field (declared `bytes` for protobuf-c), named for errors.
        case string(String)
        case bytes
        case varint
        case fixed32
        case fixed64
        case unknown
    }

    static func field(_ number: UInt64, of message: Message, _ version: ProtocolVersion) -> Field {
        switch (message, number) {
        case (.toFunction, 100): return .message(.batch)
        case (.batch, 1): return .message(.address)
        case (.batch, 2): return .repeatedMessage(version == .v2 ? .persistedValueV2 : .persistedValueV3)
        case (.batch, 3): return .repeatedMessage(version == .v2 ? .invocationV2 : .invocationV3)
        case (.persistedValueV2, 1), (.persistedValueV3, 1): return .string("a state name")
        case (.persistedValueV2, 2): return .embeddedBytes
        case (.persistedValueV3, 2): return .message(.typedValue)
        case (.invocationV2, 1), (.invocationV3, 1): return .message(.address)
        case (.invocationV2, 2): return .message(.any)
        case (.invocationV3, 2): return .message(.typedValue)
        case (.address, 1), (.address, 2), (.address, 3): return .string("an address")
        case (.typedValue, 1): return .string("a type name")
        case (.typedValue, 2): return .varint
        case (.typedValue, 3): return .bytes
        case (.any, 1): return .string("a type URL")
        case (.any, 2): return .bytes
        case (.boolWrapper, 1): return .varint
        case (.fixed32Wrapper, 1): return .fixed32
        case (.fixed64Wrapper, 1): return .fixed64
        case (.stringWrapper, 1): return .string("a string")
        default: return .unknown
        }
    }

    /// The wire type a field's kind is sent with (`nil`: any, an unknown field).
    private static func wireType(_ field: Field) -> UInt64? {
        switch field {
        case .message, .embeddedBytes, .repeatedMessage, .string, .bytes: return 2
        case .varint: return 0
        case .fixed32: return 5
        case .fixed64: return 1
        case .unknown: return nil
        }
    }

    /// One field as read off the wire: its number and wire type, and its
    /// payload (a length-delimited field's bytes) or whole extent (any other).
    private struct WireField {
        let number: UInt64
        let wireType: UInt64
        /// The tag and the field together (what is copied when kept as it is).
        let whole: Range<Int>
        /// A length-delimited field's payload, a scalar's value bytes.
        let payload: Range<Int>
        /// Whether its tag and length (or value) are varints in their shortest
        /// form, as protobuf-c reads them (it refuses tags and lengths of more than 5 bytes).
        var minimal = true
    }

    /// Whether the varint from `start` to `end` is in its shortest form.
    private static func isMinimal(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        end - start == 1 || (bytes[end - 1] != 0 && end - start <= 5)
    }

    /// Reads the field at `offset`, or `nil` when the bytes are not protobuf
    /// there (protobuf-c then refuses them, with the decoder's own error).
    static let maxGroupDepth = 64

    /// Inside a group, field number 0 passes, as protobuf's Python
    /// implementation skips a group's fields by their wire type alone.
    /// Groups nest at most ``maxGroupDepth`` deep (the walk recurses).
    private static func readField(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, groupDepth: Int = 0) -> WireField? {
        guard let (tag, afterTag) = readVarint(bytes, at: offset), groupDepth > 0 || tag >> 3 > 0 else { return nil }
        let wireType = tag & 7
        switch wireType {
        case 0:
            guard let (_, end) = readVarint(bytes, at: afterTag) else { return nil }
            return WireField(number: tag >> 3, wireType: 0, whole: offset..<end, payload: afterTag..<end,
                             minimal: isMinimal(bytes, offset, afterTag) && isMinimal(bytes, afterTag, end))
        case 1, 5:
            let end = afterTag + (wireType == 1 ? 8 : 4)
            guard end <= bytes.count else { return nil }
            return WireField(number: tag >> 3, wireType: wireType, whole: offset..<end, payload: afterTag..<end,
                             minimal: isMinimal(bytes, offset, afterTag))
        case 2:
            guard let (length, start) = readVarint(bytes, at: afterTag), length <= UInt64(bytes.count - start) else {
                return nil
            }
            let end = start + Int(length)
            return WireField(number: tag >> 3, wireType: 2, whole: offset..<end, payload: start..<end,
                             minimal: isMinimal(bytes, offset, afterTag) && isMinimal(bytes, afterTag, start))
        case 3:  // a group: skipped to its end, as the official Python SDKs' protobuf skips it (any end-group number)
            guard groupDepth < maxGroupDepth else { return nil }
            var cursor = afterTag
            while cursor < bytes.count {
                guard let inner = readField(bytes, at: cursor, groupDepth: groupDepth + 1) else { return nil }
                cursor = inner.whole.upperBound
                if inner.wireType == 4 {
                    return WireField(number: tag >> 3, wireType: 3, whole: offset..<cursor, payload: cursor..<cursor)
                }
            }
            return nil
        case 4:  // the end of a group, read by the group's own case
            return WireField(number: tag >> 3, wireType: 4, whole: offset..<afterTag, payload: afterTag..<afterTag)
        default:
            return nil
        }
    }

    /// What protobuf-c frees while decoding `body` (a `ToFunction`) when it
    /// is in the form the runtime sends: the scratch slabs of the request
    /// and of its batch, the only messages with many fields; `nil` when the
    /// bytes are not protobuf there. The request path: kept lean.
    static func survey(_ body: [UInt8]) -> Int? {
        body.withUnsafeBufferPointer { survey($0) }
    }

    /// The same, over the body's bytes.
    private static func survey(_ body: UnsafeBufferPointer<UInt8>) -> Int? {
        var batch: Range<Int>?
        guard let fields = countFields(body, firstOf: 100, at: &batch) else { return nil }
        guard let batch else { return scratchSlabs(fields) }
        var none: Range<Int>?
        guard let batchFields = countFields(UnsafeBufferPointer(rebasing: body[batch]), firstOf: 0, at: &none) else {
            return nil
        }
        return scratchSlabs(fields) + scratchSlabs(batchFields)
    }

    /// The fields of a message, and where the first length-delimited field
    /// numbered `number` lies; `nil` when the bytes are not protobuf fields
    /// (a group is not counted: protobuf-c refuses it).
    private static func countFields(
        _ bytes: UnsafeBufferPointer<UInt8>, firstOf number: UInt64, at found: inout Range<Int>?
    ) -> Int? {
        var offset = 0
        var fields = 0
        while offset < bytes.count {
            var tag = UInt64(bytes[offset])
            offset += 1
            if tag >= 0x80 {
                guard let (long, next) = readVarint(bytes, at: offset - 1) else { return nil }
                (tag, offset) = (long, next)
            }
            fields += 1
            switch tag & 7 {
            case 0:
                guard let (_, next) = readVarint(bytes, at: offset) else { return nil }
                offset = next
            case 1: offset += 8
            case 5: offset += 4
            case 2:
                guard offset < bytes.count else { return nil }
                var length = UInt64(bytes[offset])
                offset += 1
                if length >= 0x80 {
                    guard let (long, next) = readVarint(bytes, at: offset - 1) else { return nil }
                    (length, offset) = (long, next)
                }
                guard length <= UInt64(bytes.count - offset) else { return nil }
                if found == nil && tag >> 3 == number { found = offset..<offset + Int(length) }
                offset += Int(length)
            default:
                return nil
            }
        }
        return offset == bytes.count ? fields : nil
    }

    /// The scratch slabs protobuf-c 1.4 allocates, and frees, to decode a
    /// message of `fields` fields: 16 fit on its stack, then slabs of 32, 64, ….
    static func scratchSlabs(_ fields: Int) -> Int {
        if fields <= 16 { return 0 }
        var room = 16, slab = 16, slabs = 0
        while room < fields {
            slab *= 2
            room += slab
            slabs += 1
        }
        return slabs
    }

    /// The outcome of ``check(_:_:)``.
    enum Verdict {
        /// protobuf-c reads these bytes as protobuf does.
        case exact
        /// They need ``normalized(_:_:)`` first.
        case normalize
        /// They are not protobuf; protobuf-c refuses them with its own error.
        case undecodable
    }

    /// Walks `body`, a `ToFunction`: refuses a string that is not UTF-8 and
    /// tells whether protobuf-c may decode the bytes as they are.
    static func check(_ body: UnsafeBufferPointer<UInt8>, _ version: ProtocolVersion) throws -> Verdict {
        try check(body, .toFunction, version, within: nil)
    }

    private static func check(
        _ bytes: UnsafeBufferPointer<UInt8>, _ message: Message, _ version: ProtocolVersion, within: String?
    ) throws -> Verdict {
        var verdict = Verdict.exact
        var seen: UInt8 = 0  // the singular message fields met (numbers 1-3, and 100 as bit 0)
        var offset = 0
        while offset < bytes.count {
            guard let wire = readField(bytes, at: offset) else { return .undecodable }
            offset = wire.whole.upperBound
            if wire.wireType == 4 { return .undecodable }  // an end of group without its start
            let field = field(wire.number, of: message, version)
            if !wire.minimal { verdict = .normalize }
            guard let expected = wireType(field) else {
                verdict = .normalize  // left out: protobuf-c may refuse its tag, or a group
                continue
            }
            guard wire.wireType == expected else { verdict = .normalize; continue }
            let payload = UnsafeBufferPointer(rebasing: bytes[wire.payload])
            switch field {
            case .message(let inner), .repeatedMessage(let inner):
                if case .message = field {
                    let bit: UInt8 = wire.number == 100 ? 1 : 1 << (wire.number & 7)
                    if seen & bit != 0 { verdict = .normalize }
                    seen |= bit
                }
                switch try check(payload, inner, version, within: describe(wire.number, of: message) ?? within) {
                case .exact: break
                case .normalize: verdict = .normalize
                case .undecodable: return .undecodable
                }
            case .embeddedBytes:
                if seen & 4 != 0 { verdict = .normalize }
                seen |= 4
                // A 2.x state value that is not an Any as protobuf-c reads it is kept for the function.
                // An empty one is an absent one, which only the rewrite tells protobuf-c.
                if payload.isEmpty || (try? check(payload, .any, version, within: nil)) != .exact { verdict = .normalize }
            case .string(let name):
                guard isUTF8(payload) else { throw MalformedRequest("\(within ?? name) is not valid UTF-8") }
            case .bytes, .varint, .fixed32, .fixed64, .unknown:
                break
            }
        }
        return verdict
    }

    /// How the errors name the strings inside a message field.
    private static func describe(_ number: UInt64, of message: Message) -> String? {
        switch (message, number) {
        case (.batch, 1): return "the target address"
        case (.persistedValueV3, 2): return "the type name of a state"
        case (.invocationV2, 1), (.invocationV3, 1): return "a caller address"
        case (.invocationV2, 2): return "an argument's type URL"
        case (.invocationV3, 2): return "an argument's type name"
        default: return nil
        }
    }

    /// `body` rewritten so that protobuf-c reads it as protobuf does (see the type's comment).
    static func normalized(_ body: UnsafeBufferPointer<UInt8>, _ version: ProtocolVersion) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        normalize(body, .toFunction, version, into: &out)
        return out
    }

    private static func normalize(
        _ bytes: UnsafeBufferPointer<UInt8>, _ message: Message, _ version: ProtocolVersion, into out: inout [UInt8]
    ) {
        // Singular fields by number, in order of first occurrence: a message
        // field's payloads together, a scalar's last occurrence.
        var singular: [(number: UInt64, wireType: UInt64, inner: Message?, payload: [UInt8])] = []
        func keep(_ number: UInt64, _ wireType: UInt64, _ inner: Message?, _ payload: [UInt8]) {
            guard let index = singular.firstIndex(where: { $0.number == number }) else {
                singular.append((number, wireType, inner, payload))
                return
            }
            if inner == nil { singular[index].payload = payload } else { singular[index].payload += payload }
        }
        var offset = 0
        while offset < bytes.count, let wire = readField(bytes, at: offset) {
            offset = wire.whole.upperBound
            let field = field(wire.number, of: message, version)
            guard let expected = wireType(field), wire.wireType == expected else { continue }  // unknown: left out
            let payload = UnsafeBufferPointer(rebasing: bytes[wire.payload])
            switch field {
            case .message(let inner):
                keep(wire.number, 2, inner, Array(payload))
            case .repeatedMessage(let inner):
                var element: [UInt8] = []
                normalize(payload, inner, version, into: &element)
                appendLengthDelimited(wire.number, element, to: &out)
            case .varint:  // its shortest form, masked to 64 bits as protobuf reads it
                var value: [UInt8] = []
                appendVarint(readVarint(bytes, at: wire.payload.lowerBound)?.0 ?? 0, to: &value)
                keep(wire.number, 0, nil, value)
            case .embeddedBytes:
                keep(wire.number, wire.wireType, nil, storedAny(payload))
            case .string, .bytes, .fixed32, .fixed64:
                keep(wire.number, wire.wireType, nil, Array(payload))
            case .unknown:
                break
            }
        }
        for field in singular {
            if let inner = field.inner {
                var payload: [UInt8] = []
                field.payload.withUnsafeBufferPointer { normalize($0, inner, version, into: &payload) }
                appendLengthDelimited(field.number, payload, to: &out)
            } else if field.wireType == 2 {
                // An empty 2.x state value is an absent one (see SchemaV2.stateValue).
                if field.payload.isEmpty && self.field(field.number, of: message, version) == .embeddedBytes { continue }
                appendLengthDelimited(field.number, field.payload, to: &out)
            } else {
                appendVarint(field.number << 3 | field.wireType, to: &out)
                out += field.payload
            }
        }
    }

    /// A 2.x state value, the bytes of an `Any` that the official SDK parses
    /// only when the function reads the state: normalized when they are one;
    /// else an `Any` of no type holding them as they are, which fails the
    /// function that reads it, and only that function.
    private static func storedAny(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        if bytes.isEmpty { return out }
        if let verdict = try? check(bytes, .any, .v2, within: nil), verdict != .undecodable {
            normalize(bytes, .any, .v2, into: &out)
            if out.isEmpty { out = [0x0A, 0x00] }  // present all the same: an Any of no type, written so
        } else {
            appendLengthDelimited(2, Array(bytes), to: &out)
        }
        return out
    }

    /// A built-in type's wrapper read as protobuf reads it, in the one-field
    /// form protobuf-c reads the same way; `nil` when the bytes are not
    /// protobuf, or a string occurrence is not UTF-8.
    static func normalizedWrapper(_ bytes: UnsafeBufferPointer<UInt8>, _ wrapper: Message) -> [UInt8]? {
        guard (try? check(bytes, wrapper, .v3, within: nil)).map({ $0 != .undecodable }) ?? false else { return nil }
        var out: [UInt8] = []
        normalize(bytes, wrapper, .v3, into: &out)
        return out
    }

    private static func appendLengthDelimited(_ number: UInt64, _ payload: [UInt8], to out: inout [UInt8]) {
        appendVarint(number << 3 | 2, to: &out)
        appendVarint(UInt64(payload.count), to: &out)
        out.append(contentsOf: payload)
    }

    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }
}
