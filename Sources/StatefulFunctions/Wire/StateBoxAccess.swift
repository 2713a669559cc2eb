// The context's states reached without reference counting: a batch reads and
// stores its states on every invocation, and copying a slot or retaining its
// decoded value box (an atomic increment and decrement each time) would cost
// more than the access itself.

extension Context {
    /// The index of the state `name`, its name compared in place (a slot
    /// copied out would retain all it holds).
    @inline(__always)
    func scannedSlotIndex(_ name: String) -> Int? {
        states.withUnsafeBufferPointer { slots in
            for index in slots.indices where slots[index].name == name { return index }
            return nil
        }
    }

    /// Lends the state's decoded value box to `body` if it holds an `M`, not
    /// retained: the context keeps it while the state is neither stored nor
    /// deleted, and `body` cannot do either. `nil` when the state has no box
    /// or a box of another type.
    @inlinable
    func withTypedState<M: PackableMessage, R>(
        at index: Int, as type: M.Type, _ body: (TypedState<M>) throws -> R
    ) rethrows -> R? {
        // Inlined into `state(_:as:)` and `setState(_:to:)`, where `M` is concrete.
        guard let box = unretainedTypedState(at: index),
              box._withUnsafeGuaranteedRef({ Swift.type(of: $0) == TypedState<M>.self })
        else { return nil }
        return try Unmanaged<TypedState<M>>.fromOpaque(box.toOpaque())._withUnsafeGuaranteedRef(body)
    }

    @usableFromInline
    func unretainedTypedState(at index: Int) -> Unmanaged<TypedStateBox>? {
        states.withUnsafeBufferPointer { states in states[index].typed.map { Unmanaged.passUnretained($0) } }
    }
}
