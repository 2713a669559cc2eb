import CStatefunProtocol

// The StateFun 3.x built-in types: `io.statefun.types/<name>`, encoded as the
// wrapper messages of the runtime's types.proto. They pack into a 2.x `Any` too.

extension Bool: PackableMessage {
    /// `io.statefun.types/bool`, a `BooleanWrapper`.
    public static var typeName: String { "io.statefun.types/bool" }

    public init(packedBytes: [UInt8]) throws {
        self = try decodeWrapper(packedBytes, "bool", io__statefun__sdk__types__boolean_wrapper__unpack) {
            $0.pointee.value != 0
        }
    }

    public func packedBytes() throws -> [UInt8] {
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
        self = try decodeWrapper(packedBytes, "int", io__statefun__sdk__types__int_wrapper__unpack) { $0.pointee.value }
    }

    public func packedBytes() throws -> [UInt8] {
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
        self = try decodeWrapper(packedBytes, "long", io__statefun__sdk__types__long_wrapper__unpack) { $0.pointee.value }
    }

    public func packedBytes() throws -> [UInt8] {
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
        self = try decodeWrapper(packedBytes, "float", io__statefun__sdk__types__float_wrapper__unpack) { $0.pointee.value }
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
        self = try decodeWrapper(packedBytes, "double", io__statefun__sdk__types__double_wrapper__unpack) { $0.pointee.value }
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
        self = try decodeWrapper(packedBytes, "string", io__statefun__sdk__types__string_wrapper__unpack) {
            String(protobufC: $0.pointee.value)
        }
    }

    public func packedBytes() throws -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__StringWrapper()
        io__statefun__sdk__types__string_wrapper__init(&wrapper)
        return withCString { value in
            wrapper.value = UnsafeMutablePointer(mutating: value)
            return packProtobufC(&wrapper)
        }
    }
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
