public import StatefulFunctions
import StatefunLocks
public import SwiftProtobuf

/// Type URLs by message type, built once each: a type name is asked for on
/// every message packed and every type check.
private let typeNames = Lock<[ObjectIdentifier: String]>([:])

/// swift-protobuf messages are StateFun messages: declare the conformance with
/// one line, `extension GreetRequest: PackableMessage {}`, and the message packs,
/// unpacks and binds like any other.
///
/// The type name is `type.googleapis.com/` followed by the full protobuf name,
/// as protobuf's own `Any.Pack` writes it.
extension PackableMessage where Self: SwiftProtobuf.Message {
    public static var typeName: String {
        let key = ObjectIdentifier(Self.self)
        if let name = typeNames.withLock({ $0[key] }) { return name }
        let name = "type.googleapis.com/" + protoMessageName
        typeNames.withLock { $0[key] = name }
        return name
    }

    public init(packedBytes: [UInt8]) throws {
        try self.init(serializedBytes: packedBytes)
    }

    public init(packedBytes buffer: UnsafeRawBufferPointer) throws {
        try self.init(serializedBytes: BorrowedBytes(buffer))
    }

    public func packedBytes() throws -> [UInt8] {
        let packed: ProtobufBytes = try serializedBytes()
        return packed.bytes
    }
}

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

extension AnyMessage {
    /// Converts swift-protobuf's `Google_Protobuf_Any` to an ``AnyMessage``.
    public init(_ any: Google_Protobuf_Any) {
        self.init(typeURL: any.typeURL, value: [UInt8](any.value))
    }

    /// This `Any` as swift-protobuf's `Google_Protobuf_Any`.
    public var googleProtobufAny: Google_Protobuf_Any {
        var any = Google_Protobuf_Any()
        any.typeURL = typeURL
        any.value = .init(value)
        return any
    }
}

/// Bytes swift-protobuf decodes in place, without a copy into an array. It
/// only reads them; should it ever make or change bytes of this type, they
/// become an array of their own.
struct BorrowedBytes: SwiftProtobufContiguousBytes {
    private var storage: Storage

    private enum Storage {
        case borrowed(UnsafeRawBufferPointer)
        case owned([UInt8])
    }

    init(_ buffer: UnsafeRawBufferPointer) {
        storage = .borrowed(buffer)
    }

    init(repeating: UInt8, count: Int) {
        storage = .owned(Array(repeatElement(repeating, count: count)))
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        storage = .owned(Array(sequence))
    }

    var count: Int {
        switch storage {
        case .borrowed(let buffer): return buffer.count
        case .owned(let array): return array.count
        }
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .borrowed(let buffer): return try body(buffer)
        case .owned(let array): return try array.withUnsafeBytes(body)
        }
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        var array: [UInt8]
        switch storage {
        case .borrowed(let buffer): array = [UInt8](buffer)
        case .owned(let owned): array = owned
        }
        storage = .owned([])
        defer { storage = .owned(array) }
        return try array.withUnsafeMutableBytes(body)
    }
}
