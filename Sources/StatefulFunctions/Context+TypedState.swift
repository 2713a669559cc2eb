// State through a typed handle (``TypedValueSpec``): the same slots, checks and
// per-batch decoding as the string-keyed `state(_:as:)` and `setState(_:to:)`,
// which these inline into, so a typed access costs what a string-keyed one does.

extension Context {
    /// The state `spec` declares, typed: `nil` when no value is set; assigning
    /// `nil` deletes it.
    ///
    /// A subscript cannot throw: an undeclared state, a stored value of another
    /// type, or storing a type the state was declared with differently fails
    /// the invocation when the function returns, with the error that
    /// `state(_:)` or `setState(_:to:)` with the handle throws.
    @inlinable
    public subscript<Value>(spec: TypedValueSpec<Value>) -> Value? {
        get {
            do {
                return try state(spec.name, as: Value.self)
            } catch {
                deferStateError(error, state: spec.name)
                return nil
            }
        }
        set {
            do {
                if let newValue {
                    try setState(spec.name, to: newValue)
                } else {
                    try deleteState(spec.name)
                }
            } catch {
                deferStateError(error, state: spec.name)
            }
        }
    }

    /// The state `spec` declares, or `nil` when no value is set.
    ///
    /// - Throws: ``StatefulFunctionsError/undeclaredState(_:)``, or
    ///   ``StatefulFunctionsError/typeMismatch(typeURL:expected:)`` when it holds another type.
    @inlinable
    public func state<Value>(_ spec: TypedValueSpec<Value>) throws -> Value? {
        try state(spec.name, as: Value.self)
    }

    /// Stores `value` in the state `spec` declares.
    ///
    /// - Throws: ``StatefulFunctionsError/undeclaredState(_:)``, or
    ///   ``StatefulFunctionsError/stateTypeMismatch(state:typeURL:declared:)`` when the
    ///   function was bound with another type for that name.
    @inlinable
    public func setState<Value>(_ spec: TypedValueSpec<Value>, to value: Value) throws {
        try setState(spec.name, to: value)
    }

    /// Deletes the value of the state `spec` declares.
    public func deleteState<Value>(_ spec: TypedValueSpec<Value>) throws {
        try deleteState(spec.name)
    }

    /// Keeps the first failure of a state subscript, which fails the
    /// invocation once the function returns.
    @usableFromInline
    func deferStateError(_ error: any Error, state name: String) {
        guard deferredError == nil else { return }
        deferredError = error as? StatefulFunctionsError
            ?? .malformedMessage("state '\(name)' cannot be decoded: \(error)")
    }
}
