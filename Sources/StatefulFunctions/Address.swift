/// The address of one function instance: its function type and its id.
///
/// Every message in StateFun is delivered to an address. The function type is
/// the `namespace/name` a function was bound under; the id selects the
/// instance, and with it the instance's persisted state.
public struct Address: Hashable, Sendable, CustomStringConvertible {
    /// The function type's namespace, for example `example`.
    public var namespace: String
    /// The function type's name, for example `greeter`.
    public var type: String
    /// The id of the instance, for example a user name.
    public var id: String

    /// Creates an address from its three parts.
    public init(namespace: String, type: String, id: String) {
        self.namespace = namespace
        self.type = type
        self.id = id
    }

    /// Creates an address from a `namespace/name` typename and an id.
    ///
    /// - Throws: ``StatefulFunctionsError/invalidTypename(_:reason:)`` when the
    ///   typename is not of the form `namespace/name`.
    public init(_ typename: String, id: String) throws {
        let functionType = try FunctionType(typename)
        self.init(namespace: functionType.namespace, type: functionType.name, id: id)
    }

    /// The function type as `namespace/name`.
    public var typename: String { "\(namespace)/\(type)" }

    /// The function type of this address.
    public var functionType: FunctionType { FunctionType(namespace: namespace, name: type) }

    /// `namespace/type/id`.
    public var description: String { "\(namespace)/\(type)/\(id)" }
}

/// A function type, `namespace/name`: what a function is bound under.
public struct FunctionType: Hashable, Sendable, CustomStringConvertible {
    /// The namespace, for example `example`.
    public var namespace: String
    /// The name within the namespace, for example `greeter`.
    public var name: String

    /// Creates a function type from its parts, unchecked.
    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// Parses and checks a `namespace/name` typename.
    ///
    /// Exactly one `/` separates a namespace and a name, and neither may be empty.
    /// - Throws: ``StatefulFunctionsError/invalidTypename(_:reason:)``.
    public init(_ typename: String) throws {
        guard !typename.isEmpty else {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "a type name must be provided")
        }
        // Scanned as bytes: this runs for every message sent, so no Character splitting.
        let parts: (namespace: String, name: String)? = typename.utf8.withContiguousStorageIfAvailable { utf8 in
            guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")),
                  !utf8[(slash + 1)...].contains(UInt8(ascii: "/")), slash > 0, slash + 1 < utf8.count
            else { return nil }
            return (String(decoding: UnsafeBufferPointer(rebasing: utf8[..<slash]), as: UTF8.self),
                    String(decoding: UnsafeBufferPointer(rebasing: utf8[(slash + 1)...]), as: UTF8.self))
        } ?? nil
        if let parts {
            self.init(namespace: parts.namespace, name: parts.name)
            return
        }
        let pieces = typename.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 2 else {
            throw StatefulFunctionsError.invalidTypename(
                typename, reason: "a type name must be of the form namespace/name")
        }
        guard !pieces[0].isEmpty else {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "the namespace must not be empty")
        }
        guard !pieces[1].isEmpty else {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "the name must not be empty")
        }
        self.init(namespace: String(pieces[0]), name: String(pieces[1]))
    }

    /// `namespace/name`.
    public var description: String { "\(namespace)/\(name)" }
}
