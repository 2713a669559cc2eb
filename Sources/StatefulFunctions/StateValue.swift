/// One persisted value of a batch's address: its name, its value (`nil`: none
/// set) and, under 3.x, the type name its value spec declared.
///
/// The one state type of the SDK: a decoded request hands its states to the
/// ``Context`` in this form, the context keeps them so (with what it caches for
/// the batch), and the runtime's side (the test runtime, statefun-local) sends
/// states in it.
///
/// `@unchecked Sendable`: only a context sets the cached typed value, and a
/// context (not `Sendable`) never hands its states out; the states that cross
/// tasks (the runtime's) carry no cache.
package struct StateValue: @unchecked Sendable {
    package let name: String
    package var value: AnyMessage?
    /// The declared type name (3.x value specs), which stored values must carry.
    package internal(set) var typeName: String?
    /// Whether the batch wrote or deleted the value.
    var modified = false
    /// The value as last decoded or stored by `setState`, so that a batch
    /// decodes and encodes each state once, not once per invocation.
    var typed: TypedStateBox? = nil
    /// `typed` was stored by `setState` and `value` does not hold it yet.
    var encodePending = false

    @inline(__always)
    package init(name: String, value: AnyMessage?, typeName: String? = nil) {
        self.name = name
        self.value = value
        self.typeName = typeName
    }
}
