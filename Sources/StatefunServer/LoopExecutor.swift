import Glibc

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
    /// Weak: a task may outlive its server (and keep its executor preference).
    weak var loop: EventLoop?

    init(loop: EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        guard let loop else {
            globalConcurrentExecutor.enqueue(job)
            return
        }
        if loop.isLoopThread {
            loop.localJobs.append(job)
        } else if !loop.sendJob(job) {
            globalConcurrentExecutor.enqueue(job)
        }
    }
}
