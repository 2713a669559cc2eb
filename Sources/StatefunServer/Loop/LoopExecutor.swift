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
