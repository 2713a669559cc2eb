import StatefunLocks
import Synchronization

/// The bound on request-body memory of the whole server
/// (``HTTPServerConfiguration/maxBodyMemory``): every body being received, and
/// every body a handler still holds, on every connection, stream and loop.
///
/// Bytes are reserved as they arrive (an HTTP/1.1 connection, before it
/// takes body bytes) or before the client may send them (an HTTP/2
/// connection, before it widens its flow-control window), never from a
/// declared length: a client that declares 30 MiB and sends 10 bytes holds
/// 10 bytes. Each connection receives its first ``perConnectionAllowance``
/// bytes of body without a reservation (HTTP/2's initial connection window,
/// which the protocol grants before any setting can lower it), so small
/// requests go through however full the budget is, and the hot path touches no atomic.
///
/// A loop whose connections wait for memory registers itself
/// (``waitForMemory(loop:)``); a release wakes every registered loop.
final class BodyMemoryBudget: Sendable {
    /// Body bytes of one connection (an HTTP/1.1 request, an HTTP/2 connection's
    /// streams together) that need no reservation: HTTP/2's initial connection window.
    static let perConnectionAllowance = 65_535

    let limit: Int
    private let used = Atomic<Int>(0)
    /// Connections and sessions waiting for memory, over all loops: while any
    /// waits, bodies that make no progress are shed early (the loops' sweep).
    private let waiting = Atomic<Int>(0)
    /// Bit `i`: loop `i` has connections waiting for memory (loops from 63 share bit 63).
    private let waitingLoops = Atomic<UInt64>(0)
    private let mailboxes = Lock<[LoopMailbox]>([])

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// The mailboxes of the loops to wake when memory is released, by loop index.
    func setLoops(_ loops: [LoopMailbox]) {
        mailboxes.withLock { $0 = loops }
    }

    /// Bytes reserved now.
    var reserved: Int { used.load(ordering: .relaxed) }

    /// Whether some connection waits for memory.
    var underPressure: Bool { waiting.load(ordering: .relaxed) > 0 }

    /// Reserves up to `count` bytes; returns how many were reserved (`0...count`).
    func reserve(upTo count: Int) -> Int {
        guard count > 0 else { return 0 }
        let total = used.add(count, ordering: .sequentiallyConsistent).newValue
        let excess = total - limit
        guard excess > 0 else { return count }
        let returned = min(excess, count)
        used.subtract(returned, ordering: .sequentiallyConsistent)
        return count - returned
    }

    /// Releases `count` reserved bytes and wakes the loops whose connections wait for memory.
    func release(_ count: Int) {
        guard count > 0 else { return }
        used.subtract(count, ordering: .sequentiallyConsistent)
        guard waitingLoops.load(ordering: .sequentiallyConsistent) != 0 else { return }
        let mask = waitingLoops.exchange(0, ordering: .sequentiallyConsistent)
        guard mask != 0 else { return }
        let loops = mailboxes.withLock { $0 }
        for (index, mailbox) in loops.enumerated() where mask & (1 << UInt64(min(index, 63))) != 0 {
            _ = mailbox.post(.memoryReleased)
        }
    }

    /// Loop `index` has connections waiting for memory: wake it at the next release.
    /// Returns whether memory is available now (a release may have come just before).
    func waitForMemory(loop index: Int) -> Bool {
        waitingLoops.bitwiseOr(1 << UInt64(min(index, 63)), ordering: .sequentiallyConsistent)
        return used.load(ordering: .sequentiallyConsistent) < limit
    }

    /// A connection starts (`+1`) or stops (`-1`) waiting for memory.
    func countWaiter(_ delta: Int) {
        waiting.add(delta, ordering: .relaxed)
    }

    /// A quarter of what the process may use: the cgroup v2 memory limit
    /// (`/sys/fs/cgroup/memory.max`) where one is set, else physical memory.
    static var defaultLimit: Int {
        var available = SystemInfo.physicalMemory ?? 4 << 30
        if let limit = cgroupMemoryLimit(), limit > 0 { available = min(available, limit) }
        return max(available / 4, 16 << 20)
    }

    /// The cgroup v2 `memory.max` of the process's cgroup; nil when unset ("max") or unreadable.
    static func cgroupMemoryLimit(path: String = "/sys/fs/cgroup/memory.max") -> Int? {
        guard let text = ProcessorCount.readSmallFile(path) else { return nil }
        return Int(text.prefix { $0 != "\n" }.filter { !$0.isWhitespace })
    }
}
