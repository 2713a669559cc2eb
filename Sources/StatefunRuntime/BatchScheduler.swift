package import StatefulFunctions

/// The runtime's per-address batching: it sends each function instance one
/// request at a time, so messages to an address wait in order behind the batch
/// in flight for it and go out together as its next batch, at most a given
/// number at a time.
///
/// Addresses take their turns in the order their waiting began: an address
/// joins the turn order when a message arrives to its empty queue, or when its
/// batch completes with messages left behind; a batch given back goes first.
package struct BatchScheduler<Message> {
    /// Messages waiting per address; an address without any has no entry.
    private var queues: [Address: [Message]] = [:]
    /// Addresses with messages waiting, in turn order.
    private var turns: [Address] = []
    /// The addresses in `turns`, to look them up without a scan.
    private var inTurn: Set<Address> = []
    private var inFlight: Set<Address> = []

    package init() {}

    /// How many messages wait.
    package var queuedCount: Int { queues.values.reduce(0) { $0 + $1.count } }
    /// Whether any message waits.
    package var hasQueued: Bool { !queues.isEmpty }
    /// How many addresses have a batch in flight.
    package var inFlightCount: Int { inFlight.count }

    /// Queues `message` for `address`, behind those already waiting.
    package mutating func enqueue(_ message: Message, to address: Address) {
        if queues[address] == nil, inTurn.insert(address).inserted { turns.append(address) }
        queues[address, default: []].append(message)
    }

    /// The next batch: the first address in turn with no batch in flight, and its
    /// oldest messages, at most `maxSize`. The address is in flight until
    /// ``complete(_:)`` or ``putBack(_:to:)``.
    package mutating func next(maxSize: Int) -> (address: Address, batch: [Message])? {
        while let address = turns.first(where: { !inFlight.contains($0) }) {
            if let batch = take(address, maxSize: maxSize) { return (address, batch) }
        }
        return nil
    }

    /// The batch for `address`: its oldest messages, at most `maxSize`; `nil` when
    /// none waits or a batch for it is in flight. The address is in flight until
    /// ``complete(_:)`` or ``putBack(_:to:)``.
    package mutating func take(_ address: Address, maxSize: Int) -> [Message]? {
        guard !inFlight.contains(address) else { return nil }
        leaveTurn(address)
        guard var queue = queues[address] else { return nil }
        let batch = Array(queue.prefix(max(1, maxSize)))
        queue.removeFirst(batch.count)
        queues[address] = queue.isEmpty ? nil : queue
        inFlight.insert(address)
        return batch
    }

    /// Ends the batch in flight for `address`; what waits behind it takes its turn.
    package mutating func complete(_ address: Address) {
        inFlight.remove(address)
        if queues[address] != nil, inTurn.insert(address).inserted { turns.append(address) }
    }

    /// Puts `batch`, taken for `address` and not applied, back at the head of its
    /// queue, and the address first in turn, as the runtime sends a batch again;
    /// ends the batch's flight if ``complete(_:)`` has not.
    package mutating func putBack(_ batch: [Message], to address: Address) {
        inFlight.remove(address)
        guard !batch.isEmpty else { return complete(address) }
        queues[address] = batch + (queues[address] ?? [])
        leaveTurn(address)
        inTurn.insert(address)
        turns.insert(address, at: 0)
    }

    private mutating func leaveTurn(_ address: Address) {
        // The address just queued for is the last in turn: search from the end.
        guard inTurn.remove(address) != nil, let index = turns.lastIndex(of: address) else { return }
        turns.remove(at: index)
    }
}
