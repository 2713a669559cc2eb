/// Everything a completed batch asks of the runtime.
package struct BatchEffects {
    /// The states written (a value) or deleted (`nil`), in state order.
    package let mutations: [(name: String, value: AnyMessage?)]
    package let outgoing: [OutgoingMessage]
    package let delayed: [DelayedSend]
    package let egress: [EgressMessage]
}
