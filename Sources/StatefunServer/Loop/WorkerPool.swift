import StatefunLocks

/// A fixed pool of threads that runs Swift tasks preferring it
/// (``HandlerExecution/workerThreads(_:)``): a handler that blocks its thread
/// blocks one of these, never a thread of Swift's small cooperative pool.
///
/// The threads live as long as the process: abandoned handlers (their
/// connection gone, or cut off at the end of a shutdown) may still enqueue work.
final class WorkerPool: TaskExecutor, @unchecked Sendable {
    private struct Queue {
        var jobs: [UnownedJob] = []
        var head = 0
    }

    private let queue = Lock(Queue())
    /// Counts queued jobs; workers sleep on it.
    private let available = Semaphore()
    let threadCount: Int

    init(threads: Int, name: String) throws(HTTPServerError) {
        threadCount = max(1, threads)
        for index in 0..<threadCount {
            try spawnThread(name: "\(name)-\(index)") { [self] in work() }
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.withLock { $0.jobs.append(job) }
        available.post()
    }

    private func work() {
        let executor = asUnownedTaskExecutor()
        while true {
            guard available.wait() else { continue }
            let job = queue.withLock { queue -> UnownedJob in
                let job = queue.jobs[queue.head]
                queue.head += 1
                if queue.head == queue.jobs.count {
                    queue.jobs.removeAll(keepingCapacity: true)
                    queue.head = 0
                } else if queue.head >= 1024 && queue.head * 2 >= queue.jobs.count {
                    queue.jobs.removeFirst(queue.head)
                    queue.head = 0
                }
                return job
            }
            job.runSynchronously(on: executor)
            CrashReporting.requestEnded()  // a task that suspended is no longer this thread's request
        }
    }
}
