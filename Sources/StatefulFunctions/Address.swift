import Glibc

/// The address of one function instance: its function type and its id.
///
/// Every message in StateFun is delivered to an address. The function type is
/// the `namespace/name` a function was bound under; the id selects the
/// instance, and with it the instance's persisted state.
public struct Address: Hashable, Sendable, CustomStringConvertible {
    /// The function type, `namespace/name`.
    public var functionType: FunctionType
    /// The id of the instance, for example a user name.
    public var id: String

    /// The function type's namespace, for example `example`.
    public var namespace: String {
        get { functionType.namespace }
        set { functionType.namespace = newValue }
    }

    /// The function type's name, for example `greeter`.
    public var type: String {
        get { functionType.name }
        set { functionType.name = newValue }
    }

    /// Creates an address from its three parts.
    public init(namespace: String, type: String, id: String) {
        self.init(FunctionType(namespace: namespace, name: type), id: id)
    }

    /// Creates an address from a function type and an id.
    public init(_ functionType: FunctionType, id: String) {
        self.functionType = functionType
        self.id = id
    }

    /// Creates an address from a `namespace/name` typename and an id.
    ///
    /// - Throws: ``StatefulFunctionsError/invalidTypename(_:reason:)`` when the
    ///   typename is not of the form `namespace/name`.
    public init(_ typename: String, id: String) throws {
        self.init(try FunctionType(typename), id: id)
    }

    /// The function type as `namespace/name`.
    public var typename: String { functionType.typename }

    /// `namespace/type/id`.
    public var description: String { "\(functionType.typename)/\(id)" }
}

/// A function type, `namespace/name`: what a function is bound under.
///
/// It is kept as the one string `namespace/name` and the position of the `/`
/// between the two: parsing a typename (done for every message a function
/// sends) then builds no string.
public struct FunctionType: Hashable, Sendable, CustomStringConvertible {
    /// `namespace/name`.
    public let typename: String
    /// The UTF-8 offset of the `/` that ends the namespace.
    let separator: Int

    /// Creates a function type from its parts, unchecked.
    public init(namespace: String, name: String) {
        self.typename = namespace + "/" + name
        self.separator = namespace.utf8.count
    }

    /// A typename already checked, or made of parts taken as they are.
    init(typename: String, separator: Int) {
        self.typename = typename
        self.separator = separator
    }

    /// Parses and checks a `namespace/name` typename.
    ///
    /// Exactly one `/` separates a namespace and a name, and neither may be empty.
    /// - Throws: ``StatefulFunctionsError/invalidTypename(_:reason:)``.
    public init(_ typename: String) throws {
        guard !typename.isEmpty else {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "a type name must be provided")
        }
        // Scanned as bytes: this runs for every message sent.
        let slashes = typename.utf8.withContiguousStorageIfAvailable(Self.slashes)
            ?? Array(typename.utf8).withUnsafeBufferPointer(Self.slashes)
        guard slashes.count == 1, let separator = slashes.first else {
            throw StatefulFunctionsError.invalidTypename(
                typename, reason: "a type name must be of the form namespace/name")
        }
        guard separator > 0 else {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "the namespace must not be empty")
        }
        guard separator + 1 < typename.utf8.count else {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "the name must not be empty")
        }
        self.init(typename: typename, separator: separator)
    }

    /// The count of `/` in `utf8` (0, 1, or 2 for more) and the offset of the first.
    private static func slashes(_ utf8: UnsafeBufferPointer<UInt8>) -> (count: Int, first: Int?) {
        guard let base = utf8.baseAddress, let found = memchr(base, Int32(UInt8(ascii: "/")), utf8.count) else {
            return (0, nil)
        }
        let first = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        let rest = utf8.count - first - 1
        return (memchr(found + 1, Int32(UInt8(ascii: "/")), rest) == nil ? 1 : 2, first)
    }

    /// The namespace, for example `example`.
    public var namespace: String {
        get { String(decoding: typename.utf8.prefix(separator), as: UTF8.self) }
        set { self = FunctionType(namespace: newValue, name: name) }
    }

    /// The name within the namespace, for example `greeter`.
    public var name: String {
        get { String(decoding: typename.utf8.dropFirst(separator + 1), as: UTF8.self) }
        set { self = FunctionType(namespace: namespace, name: newValue) }
    }

    /// Neither the namespace nor the name is empty.
    var hasBothParts: Bool { separator > 0 && separator + 1 < typename.utf8.count }

    /// Both parts are non-empty and neither holds a `/`: what ``init(_:)`` accepts.
    var isWellFormed: Bool {
        hasBothParts && !typename.utf8.dropFirst(separator + 1).contains(UInt8(ascii: "/"))
            && !typename.utf8.prefix(separator).contains(UInt8(ascii: "/"))
    }

    /// `namespace/name`.
    public var description: String { typename }
}
