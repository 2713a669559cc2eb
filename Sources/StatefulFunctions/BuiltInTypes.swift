// The StateFun 3.x built-in types: `io.statefun.types/<name>`, encoded as the
// wrapper messages of the runtime's types.proto. They pack into a 2.x `Any` too.

// Every wrapper is one field, number 1. Its canonical encodings (the field,
// or nothing for the zero value, as proto3 writes them and protobuf-c too)
// are read and written here directly: for a value this small, protobuf-c's
// descriptor-driven pack and unpack cost more than the value's own work.
// Anything else (unknown fields, a field repeated, a longer varint) is
// decoded by protobuf-c (Wire/BuiltInWrappers.swift).

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
}

extension Float: PackableMessage {
    /// `io.statefun.types/float`, a `FloatWrapper`.
    public static var typeName: String { "io.statefun.types/float" }

    public init(packedBytes: [UInt8]) throws {
        self = try Self.decodedByProtobufC(normalizedWrapper(packedBytes, .fixed32Wrapper, Self.typeName))
    }

    public func packedBytes() throws -> [UInt8] {
        packedByProtobufC()
    }
}

extension Double: PackableMessage {
    /// `io.statefun.types/double`, a `DoubleWrapper`.
    public static var typeName: String { "io.statefun.types/double" }

    public init(packedBytes: [UInt8]) throws {
        self = try Self.decodedByProtobufC(normalizedWrapper(packedBytes, .fixed64Wrapper, Self.typeName))
    }

    public func packedBytes() throws -> [UInt8] {
        packedByProtobufC()
    }
}

extension String: PackableMessage {
    /// `io.statefun.types/string`, a `StringWrapper`.
    public static var typeName: String { "io.statefun.types/string" }

    public init(packedBytes: [UInt8]) throws {
        self = try Self.decodedWrapper(packedBytes)
    }

    /// The usual form, one field with all the text, is read in place; any
    /// other goes to protobuf-c.
    public init(packedBytes bytes: RawSpan) throws {
        self = try Self.decodedWrapper(bytes)
    }

    /// The field, its length and the UTF-8 bytes (a NUL included: protobuf-c's
    /// C strings would end there).
    public func packedBytes() throws -> [UInt8] {
        packedWrapper()
    }

    /// Why a `StringWrapper` is refused when its text is not UTF-8, as the official SDKs refuse it.
    static let invalidUTF8 = "an io.statefun.types/string whose value is not valid UTF-8"
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
