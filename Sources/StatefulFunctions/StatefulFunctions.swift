import StatefunLocks

/// The body of a stateful function: it gets the context and one message.
///
/// Synchronous closures convert to this type, so a function may be `async` or not.
public typealias FunctionBody<Message> = @Sendable (Context, Message) async throws -> Void

/// The body of a synchronous stateful function. A closure that does not
/// `await` binds as one: the invocations of a batch then run back to back,
/// without a suspension point between them.
public typealias SynchronousFunctionBody<Message> = @Sendable (Context, Message) throws -> Void

/// A function as the registry keeps it: its body and the message types it accepts.
public struct StatefulFunction: Sendable {
    /// The message types the function accepts; `nil` for an untyped function,
    /// which gets every message as a raw ``AnyMessage``.
    public let acceptedTypes: [any PackableMessage.Type]?
    /// The persisted values the function declares (StateFun 3.x; 2.x declares
    /// states in module.yaml instead).
    public private(set) var valueSpecs: [ValueSpec] = []

    let body: Body

    /// An untyped function: it gets each message as the raw ``AnyMessage``.
    public init(_ body: @escaping FunctionBody<AnyMessage>) {
        acceptedTypes = nil
        self.body = .untyped(body)
    }

    /// An untyped synchronous function.
    public init(_ body: @escaping SynchronousFunctionBody<AnyMessage>) {
        acceptedTypes = nil
        self.body = .untyped(body)
    }

    /// A function of one message type: each message is unpacked to it, and a
    /// message of any other type fails its batch.
    public init<M: PackableMessage>(_ type: M.Type, _ body: @escaping FunctionBody<M>) {
        acceptedTypes = [type]
        self.body = .typed(type, body)
    }

    /// A synchronous function of one message type.
    public init<M: PackableMessage>(_ type: M.Type, _ body: @escaping SynchronousFunctionBody<M>) {
        acceptedTypes = [type]
        self.body = .typed(type, body)
    }

    /// A function of several message types (like the reference SDK's
    /// `typing.Union`): each message is unpacked to the first type it matches,
    /// and the function dispatches on it (`if let user = message as? User`).
    public init(accepting types: [any PackableMessage.Type], _ body: @escaping FunctionBody<any PackableMessage>) {
        acceptedTypes = types
        self.body = .accepting(types, body)
    }

    /// A synchronous function of several message types.
    public init(
        accepting types: [any PackableMessage.Type], _ body: @escaping SynchronousFunctionBody<any PackableMessage>
    ) {
        acceptedTypes = types
        self.body = .accepting(types, body)
    }

    /// This function with its persisted values declared (StateFun 3.x).
    ///
    /// - Throws: ``StatefulFunctionsError`` for an empty or repeated name, an
    ///   empty type name or a non-positive expiration.
    public func withValueSpecs(_ declarations: [any ValueSpecDeclaration]) throws -> StatefulFunction {
        let specs = declarations.map(\.valueSpec)
        var names = Set<String>()
        for spec in specs where !names.insert(try spec.validated().name).inserted {
            throw StatefulFunctionsError.invalidArgument("the value spec '\(spec.name)' is declared twice")
        }
        var function = self
        function.valueSpecs = specs
        return function
    }
}

/// The registry of stateful functions: binds `namespace/name` function types
/// to Swift functions.
///
/// ```swift
/// let functions = StatefulFunctions()
/// try functions.bind("example/greeter", GreetRequest.self) { context, request in
///     print("Hello " + request.name)
/// }
/// ```
///
/// Bind every function before creating the ``RequestReplyHandler`` that serves
/// them: a handler serves the functions bound when it was created.
public final class StatefulFunctions: Sendable {
    private let table = Lock<[FunctionType: StatefulFunction]>([:])

    /// Creates an empty registry.
    public init() {}

    /// Registers a function under a `namespace/name` function type.
    ///
    /// A function type is bound once: binding it again throws (as the Go SDK's
    /// `WithSpec` does) rather than replacing the first function in silence.
    ///
    /// - Throws: ``StatefulFunctionsError/invalidTypename(_:reason:)``, or
    ///   ``StatefulFunctionsError/alreadyBound(_:)`` when the type is bound already.
    public func register(_ typename: String, _ function: StatefulFunction) throws {
        let type = try FunctionType(typename)
        let bound = table.withLock { table in
            if table[type] != nil { return false }
            table[type] = function
            return true
        }
        guard bound else { throw StatefulFunctionsError.alreadyBound(type.description) }
    }

    /// Registers an untyped function, which gets each message as a raw ``AnyMessage``.
    public func register(
        _ typename: String, states: [any ValueSpecDeclaration] = [], _ body: @escaping FunctionBody<AnyMessage>
    ) throws {
        try register(typename, StatefulFunction(body).withValueSpecs(states))
    }

    /// Registers an untyped synchronous function.
    public func register(
        _ typename: String, states: [any ValueSpecDeclaration] = [], _ body: @escaping SynchronousFunctionBody<AnyMessage>
    ) throws {
        try register(typename, StatefulFunction(body).withValueSpecs(states))
    }

    /// Registers a synchronous function of one message type.
    public func register<M: PackableMessage>(
        _ typename: String, _ type: M.Type, states: [any ValueSpecDeclaration] = [], _ body: @escaping SynchronousFunctionBody<M>
    ) throws {
        try register(typename, StatefulFunction(type, body).withValueSpecs(states))
    }

    /// Registers a synchronous function of several message types.
    public func register(
        _ typename: String, accepting types: [any PackableMessage.Type], states: [any ValueSpecDeclaration] = [],
        _ body: @escaping SynchronousFunctionBody<any PackableMessage>
    ) throws {
        try register(typename, StatefulFunction(accepting: types, body).withValueSpecs(states))
    }

    /// Registers a function of one message type.
    public func register<M: PackableMessage>(
        _ typename: String, _ type: M.Type, states: [any ValueSpecDeclaration] = [], _ body: @escaping FunctionBody<M>
    ) throws {
        try register(typename, StatefulFunction(type, body).withValueSpecs(states))
    }

    /// Registers a function of several message types.
    public func register(
        _ typename: String, accepting types: [any PackableMessage.Type], states: [any ValueSpecDeclaration] = [],
        _ body: @escaping FunctionBody<any PackableMessage>
    ) throws {
        try register(typename, StatefulFunction(accepting: types, body).withValueSpecs(states))
    }

    /// Binds an untyped function: `try functions.bind("example/hello") { context, message in … }`.
    ///
    /// `states` declares the function's persisted values for StateFun 3.x:
    /// ``ValueSpec``s, or ``TypedValueSpec``s that the function then reads and
    /// writes through (`context[spec]`).
    public func bind(
        _ typename: String, states: [any ValueSpecDeclaration] = [], _ body: @escaping FunctionBody<AnyMessage>
    ) throws {
        try register(typename, states: states, body)
    }

    /// Binds a function of one message type, unpacked for it.
    public func bind<M: PackableMessage>(
        _ typename: String, _ type: M.Type, states: [any ValueSpecDeclaration] = [], _ body: @escaping FunctionBody<M>
    ) throws {
        try register(typename, type, states: states, body)
    }

    /// Binds a function of several message types, which dispatches on the unpacked message.
    public func bind(
        _ typename: String, accepting types: [any PackableMessage.Type], states: [any ValueSpecDeclaration] = [],
        _ body: @escaping FunctionBody<any PackableMessage>
    ) throws {
        try register(typename, accepting: types, states: states, body)
    }

    /// Binds an untyped synchronous function (a closure that does not `await`).
    public func bind(
        _ typename: String, states: [any ValueSpecDeclaration] = [], _ body: @escaping SynchronousFunctionBody<AnyMessage>
    ) throws {
        try register(typename, states: states, body)
    }

    /// Binds a synchronous function of one message type.
    public func bind<M: PackableMessage>(
        _ typename: String, _ type: M.Type, states: [any ValueSpecDeclaration] = [], _ body: @escaping SynchronousFunctionBody<M>
    ) throws {
        try register(typename, type, states: states, body)
    }

    /// Binds a synchronous function of several message types.
    public func bind(
        _ typename: String, accepting types: [any PackableMessage.Type], states: [any ValueSpecDeclaration] = [],
        _ body: @escaping SynchronousFunctionBody<any PackableMessage>
    ) throws {
        try register(typename, accepting: types, states: states, body)
    }

    /// The function bound under a function type, if any.
    public func function(for type: FunctionType) -> StatefulFunction? {
        table.withLock { $0[type] }
    }

    /// Every bound function type.
    public var functionTypes: [FunctionType] {
        table.withLock { Array($0.keys) }.sorted { $0.description < $1.description }
    }

    var snapshot: [FunctionType: StatefulFunction] { table.withLock { $0 } }
}
