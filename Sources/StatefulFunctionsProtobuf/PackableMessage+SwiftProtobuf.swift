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

    /// Decodes the message in place, from the request's own bytes.
    public init(packedBytes bytes: RawSpan) throws {
        try self.init(serializedBytes: bytes)
    }

    public func packedBytes() throws -> [UInt8] {
        let packed: ProtobufBytes = try serializedBytes()
        return packed.bytes
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
