import CStatefunProtocol

extension AnyMessage: PackableMessage {
    /// An `Any` can itself be packed into an `Any`.
    public static var typeName: String { "type.googleapis.com/google.protobuf.Any" }

    /// Decodes a serialized `google.protobuf.Any`.
    public init(packedBytes: [UInt8]) throws {
        let decoded = decodeProtobufC(packedBytes, google__protobuf__any__unpack) { AnyMessage(repairing: SchemaV2.value($0)) }
        guard let decoded else { throw StatefulFunctionsError.malformedMessage("not a serialized google.protobuf.Any") }
        self = decoded
    }

    /// Serializes this `Any` as a `google.protobuf.Any` message.
    public func packedBytes() throws -> [UInt8] {
        var any = ProtoAny()
        google__protobuf__any__init(&any)
        var typeURL = typeURL
        return typeURL.withUTF8 { typeURL in
            value.withUnsafeBufferPointer { value in
                any.type_url = ProtobufCBinaryData(len: typeURL.count, data: UnsafeMutablePointer(mutating: typeURL.baseAddress))
                any.value = ProtobufCBinaryData(len: value.count, data: UnsafeMutablePointer(mutating: value.baseAddress))
                return packProtobufC(&any)
            }
        }
    }
}
