import Synchronization

/// Whether the server reports itself ready (``HTTPServerConfiguration/healthCheckPath``).
final class Readiness: Sendable {
    let value = Atomic<Bool>(false)
    var isReady: Bool { value.load(ordering: .relaxed) }
    func set(_ ready: Bool) { value.store(ready, ordering: .relaxed) }
}
