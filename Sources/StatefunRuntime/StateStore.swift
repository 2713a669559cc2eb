package import StatefulFunctions

/// The runtime's keeping of persisted values: per address, per state name,
/// with the times that expiration counts from. Shared by the in-process test
/// runtime and statefun-local, so both expire state the same way.
package struct StateStore {
    private struct Stored {
        var value: AnyMessage
        var lastWrite: Duration
        var lastInvoke: Duration
    }

    private var values: [Address: [String: Stored]] = [:]

    package init() {}

    /// The states a batch for `address` carries: one per spec, `nil` when
    /// absent or expired by `now`. Expired values are dropped.
    package mutating func batchStates(
        for address: Address, specs: [ValueSpec], now: Duration, typed: Bool
    ) -> [StateValue] {
        var stored = values[address] ?? [:]
        for spec in specs {
            if let value = stored[spec.name], Self.expired(value, spec.expiration, now) { stored[spec.name] = nil }
        }
        values[address] = stored.isEmpty ? nil : stored
        return specs.map { StateValue(name: $0.name, value: stored[$0.name]?.value, typeName: typed ? $0.typeName : nil) }
    }

    /// Applies a completed batch: every value was read (invoked) now, and the
    /// mutated ones were written now.
    package mutating func apply(_ mutations: [(name: String, value: AnyMessage?)], to address: Address, now: Duration) {
        var stored = values[address] ?? [:]
        for key in stored.keys { stored[key]?.lastInvoke = now }
        for (name, value) in mutations {
            stored[name] = value.map { Stored(value: $0, lastWrite: now, lastInvoke: now) }
        }
        values[address] = stored.isEmpty ? nil : stored
    }

    /// The value of `name` at `address` as of `now`, `nil` when absent or expired.
    package func value(of address: Address, _ name: String, expiration: ValueSpec.Expiration, now: Duration) -> AnyMessage? {
        guard let stored = values[address]?[name], !Self.expired(stored, expiration, now) else { return nil }
        return stored.value
    }

    /// Every value stored and not expired by `now` (by the expiration `expiration` gives
    /// for its address and name), by address then name.
    package func values(
        now: Duration, expiration: (Address, String) -> ValueSpec.Expiration
    ) -> [(address: Address, name: String, value: AnyMessage)] {
        values.flatMap { address, states in
            states.compactMap { name, stored in
                Self.expired(stored, expiration(address, name), now) ? nil : (address, name, stored.value)
            }
        }.sorted { ($0.address.description, $0.name) < ($1.address.description, $1.name) }
    }

    private static func expired(_ stored: Stored, _ expiration: ValueSpec.Expiration, _ now: Duration) -> Bool {
        switch expiration {
        case .none: return false
        case .afterWrite(let ttl): return stored.lastWrite + ttl <= now
        case .afterInvoke(let ttl): return stored.lastInvoke + ttl <= now
        }
    }
}
