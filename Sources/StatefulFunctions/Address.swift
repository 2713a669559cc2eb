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
    /// The typename is split at its last `/`, as the official SDKs split it:
    /// the namespace may hold `/` itself (`com.example/sub/greeter`), the name
    /// may not, and neither may be empty.
    /// - Throws: ``StatefulFunctionsError/invalidTypename(_:reason:)``.
    public init(_ typename: String) throws {
        guard !typename.isEmpty else {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "a type name must be provided")
        }
        guard let separator = Self.lastSlashOffset(typename) else {
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

    /// Refuses a function type made of parts (``init(namespace:name:)``)
    /// that ``init(_:)`` would not accept, naming what is wrong.
    func check() throws {
        if hasBothParts && !typename.utf8.dropFirst(separator + 1).contains(UInt8(ascii: "/")) { return }
        if hasBothParts {
            throw StatefulFunctionsError.invalidTypename(typename, reason: "the name must not contain '/'")
        }
        _ = try FunctionType(typename)  // throws, naming what is wrong
        throw StatefulFunctionsError.invalidTypename(
            typename, reason: separator == 0 ? "the namespace must not be empty" : "the name must not be empty")
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


    /// `namespace/name`.
    public var description: String { typename }
}
