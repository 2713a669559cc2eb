/// A persisted value declared once with its Swift type: the typed handle
/// through which a function reads and writes it (Java's `ValueSpec<T>`, Go's
/// `ValueSpec` with `storage.Get`/`Set`).
///
/// ```swift
/// enum Cart {
///     static let items = TypedValueSpec("items", Basket.self)
///     static let visits = TypedValueSpec("visits", Int32.self, expiration: .afterInvoke(.seconds(300)))
/// }
///
/// try functions.bind("com.example/cart", AddItem.self, states: [Cart.items, Cart.visits]) { context, add in
///     var basket = context[Cart.items] ?? Basket()
///     basket.add(add)
///     context[Cart.items] = basket                      // nil deletes it
///     context[Cart.visits] = (context[Cart.visits] ?? 0) + 1
/// }
/// ```
///
/// Bound with a function (`states:`), it declares the value to the 3.x runtime
/// as the untyped ``ValueSpec`` does; under 2.x, declare the state in
/// module.yaml and use the handle the same way. The string-keyed API
/// (`context["items"]`, `state(_:as:)`) reads the same state.
public struct TypedValueSpec<Value: PackableMessage>: Sendable, Hashable {
    /// The untyped declaration: the name, the type name and the expiration the
    /// runtime receives.
    public let valueSpec: ValueSpec

    /// The state name.
    public var name: String { valueSpec.name }
    /// When the value expires.
    public var expiration: ValueSpec.Expiration { valueSpec.expiration }

    /// Declares a value of type `Value` named `name`.
    public init(_ name: String, _ type: Value.Type = Value.self, expiration: ValueSpec.Expiration = .none) {
        valueSpec = ValueSpec(name, type, expiration: expiration)
    }
}

/// A value spec as a function is bound with it: an untyped ``ValueSpec`` or a
/// ``TypedValueSpec``, so that one `states:` list takes both.
public protocol ValueSpecDeclaration: Sendable {
    /// The declaration the runtime receives.
    var valueSpec: ValueSpec { get }
}

extension ValueSpec: ValueSpecDeclaration {
    /// The value spec itself.
    public var valueSpec: ValueSpec { self }
}

extension TypedValueSpec: ValueSpecDeclaration {}
