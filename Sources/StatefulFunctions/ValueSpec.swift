/// The declaration of one persisted value of a function (StateFun 3.x): its
/// name, its type and when it expires.
///
/// The 3.x runtime keeps only declared state: a function lists its value specs
/// when it is bound, and the SDK asks the runtime for any that a request lacks.
/// In 2.x, states are declared in module.yaml instead, and value specs are not used.
public struct ValueSpec: Sendable, Hashable {
    /// When a value expires.
    public enum Expiration: Sendable, Hashable {
        /// The value never expires.
        case none
        /// The value expires this long after it was last written.
        case afterWrite(Duration)
        /// The value expires this long after the function was last invoked.
        case afterInvoke(Duration)
    }

    /// The state name.
    public let name: String
    /// The type name of the stored values, for example `io.statefun.types/int`.
    public let typeName: String
    /// When the value expires.
    public let expiration: Expiration

    /// Declares a value of type `type`.
    public init<T: PackableMessage>(_ name: String, _ type: T.Type, expiration: Expiration = .none) {
        self.init(name: name, typeName: T.typeName, expiration: expiration)
    }

    /// Declares a value by type name.
    public init(name: String, typeName: String, expiration: Expiration = .none) {
        self.name = name
        self.typeName = typeName
        self.expiration = expiration
    }

    func validated() throws -> ValueSpec {
        guard !name.isEmpty else { throw StatefulFunctionsError.missingArgument("value spec name") }
        guard !typeName.isEmpty else { throw StatefulFunctionsError.missingArgument("type name of value spec '\(name)'") }
        switch expiration {
        case .none: break
        case .afterWrite(let duration), .afterInvoke(let duration):
            guard duration > .zero else {
                throw StatefulFunctionsError.invalidArgument("the expiration of value spec '\(name)' must be positive")
            }
            _ = try wholeMilliseconds(duration, "the expiration of value spec '\(name)'")
        }
        return self
    }
}
