import Glibc
import StatefunLocks
import Synchronization

/// The task executor of one event loop (``HandlerExecution/eventLoop``): a
/// handler task preferring it runs on the loop's own thread, between two
/// `epoll_wait`s, so a request is read, handled and answered without leaving
/// the thread: no hand-over to another thread, no wake-up, no lock.
///
/// Jobs enqueued on the loop's thread go to a plain array; jobs enqueued from
/// elsewhere (a task resuming after awaiting another executor) go through the
/// loop's inbox. Once the loop has exited, jobs run on the global executor so
/// that no task is stranded.
final class LoopExecutor: TaskExecutor, @unchecked Sendable {
    /// The loop's mailbox, not the loop: a task may outlive its server (and
    /// keep its executor preference), and a weak reference to the loop would
    /// move the loop's reference counts to a side table, where every retain
    /// and release of it takes the runtime's slow path.
    let mailbox: LoopMailbox

    init(mailbox: LoopMailbox) {
        self.mailbox = mailbox
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if mailbox.isLoopThread {
            mailbox.localJobs.append(job)
        } else if !mailbox.post(.job(job)) {
            globalConcurrentExecutor.enqueue(job)
        }
    }
}

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
    let wakeFD: Int32

    init(wakeFD: Int32) {
        self.wakeFD = wakeFD
    }

    /// Whether the caller runs on the loop's thread.
    var isLoopThread: Bool {
        let thread = thread.load(ordering: .relaxed)
        return thread != 0 && pthread_equal(thread, pthread_self()) != 0
    }

    /// Hands `message` to the loop from any thread; `false` once the loop has exited.
    func post(_ message: LoopMessage) -> Bool {
        inbox.withLock { inbox in
            guard !inbox.closed else { return false }
            let wasEmpty = inbox.messages.isEmpty
            inbox.messages.append(message)
            if wasEmpty {
                // Written under the lock so it can never hit a closed (or reused) fd.
                var one: UInt64 = 1
                _ = write(wakeFD, &one, 8)
            }
            return true
        }
    }

    /// Takes the messages posted so far.
    func drain() -> [LoopMessage] {
        inbox.withLock { inbox in
            defer { inbox.messages = [] }
            return inbox.messages
        }
    }

    /// Refuses further posts and closes the eventfd; returns the messages still queued.
    func close() -> [LoopMessage] {
        inbox.withLock { inbox in
            inbox.closed = true
            defer { inbox.messages = [] }
            Glibc.close(wakeFD)
            return inbox.messages
        }
    }
}
