import CStatefunProtocol

// The StateFun 3.x built-in types: `io.statefun.types/<name>`, encoded as the
// wrapper messages of the runtime's types.proto. They pack into a 2.x `Any` too.

// Every wrapper is one field, number 1. Its canonical encodings (the field,
// or nothing for the zero value, as proto3 writes them and protobuf-c too)
// are read and written here directly: for a value this small, protobuf-c's
// descriptor-driven pack and unpack cost more than the value's own work.
// Anything else (unknown fields, a field repeated, a longer varint) is
// decoded by protobuf-c.

extension Bool: PackableMessage {
    /// `io.statefun.types/bool`, a `BooleanWrapper`.
    public static var typeName: String { "io.statefun.types/bool" }

    public init(packedBytes: [UInt8]) throws {
        if packedBytes.isEmpty {
            self = false
        } else if packedBytes.count == 2 && packedBytes[0] == 0x08 && packedBytes[1] == 1 {
            self = true
        } else {
            self = try Self.decodedByProtobufC(normalizedWrapper(packedBytes, .boolWrapper, Self.typeName))
        }
    }

    public func packedBytes() throws -> [UInt8] {
        self ? [0x08, 1] : []
    }

    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Bool {
        try decodeWrapper(packedBytes, "bool", io__statefun__sdk__types__boolean_wrapper__unpack) {
            $0.pointee.value != 0
        }
    }

    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__BooleanWrapper()
        io__statefun__sdk__types__boolean_wrapper__init(&wrapper)
        wrapper.value = self ? 1 : 0
        return packProtobufC(&wrapper)
    }
}

extension Int32: PackableMessage {
    /// `io.statefun.types/int`, an `IntWrapper` (sfixed32).
    public static var typeName: String { "io.statefun.types/int" }

    public init(packedBytes: [UInt8]) throws {
        if packedBytes.isEmpty {
            self = 0
        } else if packedBytes.count == 5 && packedBytes[0] == 0x0D {
            self = Int32(bitPattern: UInt32(truncatingIfNeeded: readLittleEndian(packedBytes, 4)))
        } else {
            self = try Self.decodedByProtobufC(normalizedWrapper(packedBytes, .fixed32Wrapper, Self.typeName))
        }
    }

    public func packedBytes() throws -> [UInt8] {
        self == 0 ? [] : fixedField(tag: 0x0D, UInt64(UInt32(bitPattern: self)), size: 4)
    }

    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Int32 {
        try decodeWrapper(packedBytes, "int", io__statefun__sdk__types__int_wrapper__unpack) { $0.pointee.value }
    }

    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__IntWrapper()
        io__statefun__sdk__types__int_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension Int64: PackableMessage {
    /// `io.statefun.types/long`, a `LongWrapper` (sfixed64).
    public static var typeName: String { "io.statefun.types/long" }

    public init(packedBytes: [UInt8]) throws {
        if packedBytes.isEmpty {
            self = 0
        } else if packedBytes.count == 9 && packedBytes[0] == 0x09 {
            self = Int64(bitPattern: readLittleEndian(packedBytes, 8))
        } else {
            self = try Self.decodedByProtobufC(normalizedWrapper(packedBytes, .fixed64Wrapper, Self.typeName))
        }
    }

    public func packedBytes() throws -> [UInt8] {
        self == 0 ? [] : fixedField(tag: 0x09, UInt64(bitPattern: self), size: 8)
    }

    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Int64 {
        try decodeWrapper(packedBytes, "long", io__statefun__sdk__types__long_wrapper__unpack) { $0.pointee.value }
    }

    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__LongWrapper()
        io__statefun__sdk__types__long_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension Float: PackableMessage {
    /// `io.statefun.types/float`, a `FloatWrapper`.
    public static var typeName: String { "io.statefun.types/float" }

    public init(packedBytes: [UInt8]) throws {
        self = try decodeWrapper(
            normalizedWrapper(packedBytes, .fixed32Wrapper, Self.typeName), "float", io__statefun__sdk__types__float_wrapper__unpack) { $0.pointee.value }
    }

    public func packedBytes() throws -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__FloatWrapper()
        io__statefun__sdk__types__float_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension Double: PackableMessage {
    /// `io.statefun.types/double`, a `DoubleWrapper`.
    public static var typeName: String { "io.statefun.types/double" }

    public init(packedBytes: [UInt8]) throws {
        self = try decodeWrapper(
            normalizedWrapper(packedBytes, .fixed64Wrapper, Self.typeName), "double", io__statefun__sdk__types__double_wrapper__unpack) { $0.pointee.value }
    }

    public func packedBytes() throws -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__DoubleWrapper()
        io__statefun__sdk__types__double_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension String: PackableMessage {
    /// `io.statefun.types/string`, a `StringWrapper`.
    public static var typeName: String { "io.statefun.types/string" }

    public init(packedBytes: [UInt8]) throws {
        self = try packedBytes.withUnsafeBytes { try String(packedBytes: $0) }
    }

    /// The usual form, one field with all the text, is read here; any other
    /// goes to protobuf-c.
    public init(packedBytes buffer: UnsafeRawBufferPointer) throws {
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        if bytes.isEmpty {
            self = ""
        } else if bytes[0] == 0x0A, let (length, start) = readVarint(bytes, at: 1), length == UInt64(bytes.count - start) {
            guard let string = String(validatingUTF8Field: UnsafeBufferPointer(rebasing: bytes[start...])) else {
                throw StatefulFunctionsError.malformedMessage(Self.invalidUTF8)
            }
            self = string
        } else {
            self = try Self.decodedByProtobufC(normalizedWrapper([UInt8](bytes), .stringWrapper, Self.typeName))
        }
    }

    /// The field, its length and the UTF-8 bytes (a NUL included: protobuf-c's
    /// C strings would end there).
    public func packedBytes() throws -> [UInt8] {
        var string = self
        return string.withUTF8 { utf8 in
            guard !utf8.isEmpty else { return [] }
            return packedArray(atMost: 11 + utf8.count) { lengthDelimitedField(tag: 0x0A, utf8, into: $0) }
        }
    }

    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> String {
        let field = try decodeWrapper(packedBytes, "string", io__statefun__sdk__types__string_wrapper__unpack) {
            String(validatingUTF8Field: $0.pointee.value.bytes)
        }
        guard let field else { throw StatefulFunctionsError.malformedMessage(invalidUTF8) }
        return field
    }

    /// Why a `StringWrapper` is refused when its text is not UTF-8, as the official SDKs refuse it.
    static let invalidUTF8 = "an io.statefun.types/string whose value is not valid UTF-8"

    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__StringWrapper()
        io__statefun__sdk__types__string_wrapper__init(&wrapper)
        var string = self
        return string.withUTF8 { value in
            wrapper.value = ProtobufCBinaryData(value)
            return packProtobufC(&wrapper)
        }
    }
}

/// The `size`-byte little-endian integer after the tag byte.
@inline(__always) private func readLittleEndian(_ bytes: [UInt8], _ size: Int) -> UInt64 {
    var value: UInt64 = 0
    for i in (1...size).reversed() { value = value << 8 | UInt64(bytes[i]) }
    return value
}

/// A fixed32 or fixed64 field: the tag, then `size` bytes little-endian.
@inline(__always) private func fixedField(tag: UInt8, _ value: UInt64, size: Int) -> [UInt8] {
    size == 4
        ? [tag, UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
           UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24)]
        : [tag, UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
           UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24),
           UInt8(truncatingIfNeeded: value >> 32), UInt8(truncatingIfNeeded: value >> 40),
           UInt8(truncatingIfNeeded: value >> 48), UInt8(truncatingIfNeeded: value >> 56)]
}

/// Writes a length-delimited field (tag, varint length, bytes) at the start of
/// `buffer`, which has room for it (at most 11 bytes more than `bytes`); returns its size.
func lengthDelimitedField(tag: UInt8, _ bytes: UnsafeBufferPointer<UInt8>, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
    buffer[0] = tag
    var at = 1
    var length = UInt64(bytes.count)
    while length >= 0x80 {
        buffer[at] = UInt8(truncatingIfNeeded: length) | 0x80
        length >>= 7
        at += 1
    }
    buffer[at] = UInt8(length)
    at += 1
    UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[at...]).copyMemory(from: UnsafeRawBufferPointer(bytes))
    return at + bytes.count
}

/// A message of string and bytes fields numbered 1 to 4, as protobuf writes
/// it: in order, empty fields left out (proto3). The bytes of a string are its
/// UTF-8, all of it (a NUL inside is kept). Four parameters rather than a
/// variadic list: an array of buffers per message would cost more than the rest.
func packLengthDelimitedFields(
    _ field1: UnsafeBufferPointer<UInt8>, _ field2: UnsafeBufferPointer<UInt8>, _ field3: UnsafeBufferPointer<UInt8>,
    _ field4: UnsafeBufferPointer<UInt8> = UnsafeBufferPointer(start: nil, count: 0)
) -> [UInt8] {
    func size(_ field: UnsafeBufferPointer<UInt8>) -> Int {
        if field.isEmpty { return 0 }
        var size = 2 + field.count
        var length = field.count
        while length >= 0x80 { size += 1; length >>= 7 }
        return size
    }
    return packedArray(atMost: size(field1) + size(field2) + size(field3) + size(field4)) { buffer in
        var count = 0
        func write(_ tag: UInt8, _ field: UnsafeBufferPointer<UInt8>) {
            guard !field.isEmpty else { return }
            count += lengthDelimitedField(tag: tag, field, into: UnsafeMutableBufferPointer(rebasing: buffer[count...]))
        }
        write(0x0A, field1)
        write(0x12, field2)
        write(0x1A, field3)
        write(0x22, field4)
        return count
    }
}

/// The varint at `index` and the index after it; nil if it runs past the end
/// or is longer than ten bytes.
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

/// The length-delimited fields numbered `number` of a serialized message, in
/// order; nil when the bytes are not a sequence of protobuf fields.
func lengthDelimitedFields(_ bytes: UnsafeBufferPointer<UInt8>, number: UInt64) -> [UnsafeBufferPointer<UInt8>]? {
    var fields: [UnsafeBufferPointer<UInt8>] = []
    var at = 0
    while at < bytes.count {
        guard let (key, afterKey) = readVarint(bytes, at: at) else { return nil }
        at = afterKey
        switch key & 7 {
        case 0:
            guard let (_, next) = readVarint(bytes, at: at) else { return nil }
            at = next
        case 1: at += 8
        case 5: at += 4
        case 2:
            guard let (length, start) = readVarint(bytes, at: at), length <= UInt64(bytes.count - start) else { return nil }
            at = start + Int(length)
            if key >> 3 == number { fields.append(UnsafeBufferPointer(rebasing: bytes[start..<at])) }
        default: return nil
        }
        guard at <= bytes.count else { return nil }
    }
    return fields
}

/// A wrapper in any form protobuf accepts (a field repeated, unknown fields,
/// a longer varint, the field with another wire type) in the one-field form
/// the fast paths and protobuf-c read exactly as protobuf does.
private func normalizedWrapper(_ bytes: [UInt8], _ wrapper: WireNormalizer.Message, _ typeName: String) throws -> [UInt8] {
    guard let normalized = bytes.withUnsafeBufferPointer({ WireNormalizer.normalizedWrapper($0, wrapper) }) else {
        throw StatefulFunctionsError.malformedMessage(
            wrapper == .stringWrapper && bytes.withUnsafeBufferPointer({ lengthDelimitedFields($0, number: 1) }) != nil
                ? String.invalidUTF8 : "not a serialized \(typeName)")
    }
    return normalized
}

private func decodeWrapper<Message, Value>(
    _ bytes: [UInt8], _ name: String,
    _ unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?,
    _ convert: (UnsafeMutablePointer<Message>) -> Value
) throws -> Value {
    guard let value = decodeProtobufC(bytes, unpack, convert) else {
        throw StatefulFunctionsError.malformedMessage("not a serialized io.statefun.types/\(name)")
    }
    return value
}
