import StatefunLocks
import Synchronization

/// What an event loop shares with the threads that hand it work: its thread,
/// the jobs enqueued on that thread, the inbox for the others, and the eventfd
/// that wakes it. It outlives the loop as long as an executor refers to it;
/// once the loop has exited, posts fail and jobs go to the global executor.
final class LoopMailbox: @unchecked Sendable {
    private struct Inbox {
        var messages: [LoopMessage] = []
        var closed = false
    }

    /// The loop's thread (`pthread_self()`) while it runs; 0 before and after. Read from any thread.
    let thread = Atomic<UInt>(0)
    /// Jobs of handler tasks enqueued on the loop's own thread, run after each
    /// round of events. Only the loop's thread touches them.
    @exclusivity(unchecked) var localJobs: [UnownedJob] = []
    private let inbox = Lock(Inbox())
    /// Whether the inbox holds messages: set and cleared under its lock, read
    /// without it, so that a round with nothing posted (most rounds) takes no lock.
    private let posted = Atomic<Bool>(false)
    let wakeFD: Int32

    init(wakeFD: Int32) {
        self.wakeFD = wakeFD
    }

    /// Whether the caller runs on the loop's thread.
    var isLoopThread: Bool {
        SystemInfo.isCurrentThread(thread.load(ordering: .relaxed))
    }

    /// Hands `message` to the loop from any thread; `false` once the loop has exited.
    func post(_ message: LoopMessage) -> Bool {
        inbox.withLock { inbox in
            guard !inbox.closed else { return false }
            let wasEmpty = inbox.messages.isEmpty
            inbox.messages.append(message)
            if wasEmpty {
                posted.store(true, ordering: .releasing)
                // Written under the lock so it can never hit a closed (or reused) fd. A drain that
                // missed the flag is followed by a wake-up: the loop drains again after it.
                Posix.signalEventFD(wakeFD)
            }
            return true
        }
    }

    /// Takes the messages posted so far.
    func drain() -> [LoopMessage] {
        guard posted.load(ordering: .acquiring) else { return [] }
        return inbox.withLock { inbox in
            posted.store(false, ordering: .relaxed)
            defer { inbox.messages = [] }
            return inbox.messages
        }
    }

    /// Refuses further posts and closes the eventfd; returns the messages still queued.
    func close() -> [LoopMessage] {
        inbox.withLock { inbox in
            inbox.closed = true
            posted.store(false, ordering: .relaxed)
            defer { inbox.messages = [] }
            Posix.close(wakeFD)
            return inbox.messages
        }
    }
}
