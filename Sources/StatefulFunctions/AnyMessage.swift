/// A message type that StateFun can carry: it has a type name and a binary form.
///
/// swift-protobuf messages conform through the `StatefulFunctionsProtobuf`
/// module with a one-line `extension MyMessage: PackableMessage {}`. Any other
/// type can conform by giving its type name and its encoding.
public protocol PackableMessage: Sendable {
    /// The type name: a 2.x `Any` type URL such as
    /// `type.googleapis.com/example.GreetRequest`, which is also the 3.x typename.
    static var typeName: String { get }
    /// Decodes a value from its binary form.
    init(packedBytes: [UInt8]) throws
    /// Decodes a value from its binary form, lent for the call: a function
    /// bound to this type gets its message decoded from the request's own bytes.
    ///
    /// The default copies the bytes into an array for
    /// ``init(packedBytes:)-([UInt8])``. A type whose decoder reads a `RawSpan`
    /// (swift-protobuf's `init(serializedBytes:)` does) implements this to save
    /// that copy.
    init(packedBytes bytes: RawSpan) throws
    /// Encodes the value to its binary form.
    func packedBytes() throws -> [UInt8]
}

extension PackableMessage {
    public init(packedBytes bytes: RawSpan) throws {
        try self.init(packedBytes: [UInt8](copying: bytes))
    }
}

/// A `google.protobuf.Any`: a type URL and the bytes of the message it holds.
///
/// This is how StateFun 2.x carries every message and every state value. It is
/// named `AnyMessage` so that it does not clash with Swift's `Any`.
public struct AnyMessage: Hashable, Sendable, CustomStringConvertible {
    /// The type URL, for example `type.googleapis.com/example.GreetRequest`.
    public var typeURL: String
    /// The serialized message.
    public var value: [UInt8]

    /// Creates an `Any` from a type URL and the message bytes.
    public init(typeURL: String, value: [UInt8]) {
        self.typeURL = typeURL
        self.value = value
    }

    /// Packs a message: its type name becomes the type URL.
    public init(packing message: some PackableMessage) throws {
        self.init(typeURL: type(of: message).typeName, value: try message.packedBytes())
    }

    /// Packs a message into an `Any`.
    public static func pack(_ message: some PackableMessage) throws -> AnyMessage {
        try AnyMessage(packing: message)
    }

    /// The full message name: what follows the last `/` of the type URL.
    public var messageName: Substring { Self.messageName(of: typeURL) }

    /// Whether this `Any` holds a message of the given type.
    ///
    /// Type names must be equal, except for protobuf messages (a dotted full
    /// name after the `/`), where, like protobuf's `Any.Is`, only that name is
    /// compared, so any type URL prefix matches. A 3.x built-in such as
    /// `io.statefun.types/int` therefore never matches `other/int`. The Kafka and
    /// Kinesis egress records match both their 2.x and their 3.x type names.
    public func `is`<M: PackableMessage>(_ type: M.Type) -> Bool {
        Self.typeURL(typeURL, holds: type)
    }

    /// Whether a message of type URL `typeURL` is an `M` (see ``is(_:)``).
    static func typeURL<M: PackableMessage>(_ typeURL: String, holds type: M.Type) -> Bool {
        if typeURL == M.typeName { return true }
        let name = messageName(of: typeURL)
        if name.contains(".") && messageName(of: M.typeName) == name { return true }
        return (M.self as? any AliasedMessage.Type)?.typeNameAliases.contains(typeURL) ?? false
    }

    /// Unpacks the message this `Any` holds.
    ///
    /// - Throws: ``StatefulFunctionsError/typeMismatch(typeURL:expected:)`` when
    ///   it holds another type, or the message type's decoding error.
    public func unpack<M: PackableMessage>(_ type: M.Type = M.self) throws -> M {
        guard self.is(type) else {
            throw StatefulFunctionsError.typeMismatch(typeURL: typeURL, expected: M.typeName)
        }
        return try M(packedBytes: value)
    }

    public var description: String { "Any(\(typeURL), \(value.count) bytes)" }

    static func messageName(of typeURL: String) -> Substring {
        guard let slash = typeURL.lastIndex(of: "/") else { return typeURL[...] }
        return typeURL[typeURL.index(after: slash)...]
    }
}

/// A message type that also reads messages of other type names: the egress records,
/// whose 2.x and 3.x messages have different names and the same fields.
protocol AliasedMessage: PackableMessage {
    /// The other type names a message of this type may carry.
    static var typeNameAliases: [String] { get }
}
