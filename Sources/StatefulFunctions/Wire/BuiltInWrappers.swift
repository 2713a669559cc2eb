import CStatefunProtocol

// The built-in types' wrapper messages (BuiltInTypes.swift) where they meet
// protobuf-c and memory: the decoding of every form the fast paths leave,
// the reference encoders the tests compare the fast paths with, and the
// string wrapper read in place and written from the string's own UTF-8.

extension Bool {
    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Bool {
        try decodeWrapper(packedBytes, "bool", io__statefun__sdk__types__boolean_wrapper__unpack) {
            $0.pointee.value != 0
        }
    }
}

extension Int32 {
    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Int32 {
        try decodeWrapper(packedBytes, "int", io__statefun__sdk__types__int_wrapper__unpack) { $0.pointee.value }
    }
}

extension Int64 {
    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Int64 {
        try decodeWrapper(packedBytes, "long", io__statefun__sdk__types__long_wrapper__unpack) { $0.pointee.value }
    }
}

extension Float {
    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Float {
        try decodeWrapper(packedBytes, "float", io__statefun__sdk__types__float_wrapper__unpack) { $0.pointee.value }
    }

    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__FloatWrapper()
        io__statefun__sdk__types__float_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension Double {
    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> Double {
        try decodeWrapper(packedBytes, "double", io__statefun__sdk__types__double_wrapper__unpack) { $0.pointee.value }
    }

    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__DoubleWrapper()
        io__statefun__sdk__types__double_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension String {
    /// A `StringWrapper` from an array.
    static func decodedWrapper(_ packedBytes: [UInt8]) throws -> String {
        try packedBytes.withUnsafeBytes(decodedWrapper)
    }

    /// A `StringWrapper` from lent bytes.
    static func decodedWrapper(_ packedBytes: RawSpan) throws -> String {
        try packedBytes.withUnsafeBytes(decodedWrapper)
    }

    /// The usual form, one field with all the text, is read here; any other
    /// goes to protobuf-c.
    private static func decodedWrapper(_ buffer: UnsafeRawBufferPointer) throws -> String {
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        if bytes.isEmpty { return "" }
        if bytes[0] == 0x0A, let (length, start) = readVarint(bytes, at: 1), length == UInt64(bytes.count - start) {
            guard let string = String(validatingUTF8Field: UnsafeBufferPointer(rebasing: bytes[start...])) else {
                throw StatefulFunctionsError.malformedMessage(invalidUTF8)
            }
            return string
        }
        return try decodedByProtobufC(normalizedWrapper([UInt8](bytes), .stringWrapper, typeName))
    }

    static func decodedByProtobufC(_ packedBytes: [UInt8]) throws -> String {
        let field = try decodeWrapper(packedBytes, "string", io__statefun__sdk__types__string_wrapper__unpack) {
            String(validatingUTF8Field: $0.pointee.value.bytes)
        }
        guard let field else { throw StatefulFunctionsError.malformedMessage(invalidUTF8) }
        return field
    }

    /// The wrapper's field written from the string's own UTF-8.
    @inline(__always)
    func packedWrapper() -> [UInt8] {
        var string = self
        return string.withUTF8 { utf8 in
            guard !utf8.isEmpty else { return [] }
            return packedArray(atMost: 11 + utf8.count) { lengthDelimitedField(tag: 0x0A, utf8, into: $0) }
        }
    }
}

/// A wrapper in any form protobuf accepts (a field repeated, unknown fields,
/// a longer varint, the field with another wire type) in the one-field form
/// the fast paths and protobuf-c read exactly as protobuf does.
func normalizedWrapper(_ bytes: [UInt8], _ wrapper: WireNormalizer.Message, _ typeName: String) throws -> [UInt8] {
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
