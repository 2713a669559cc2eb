import CLinuxShims
import Glibc
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
    private let available: UnsafeMutablePointer<sem_t>
    let threadCount: Int

    init(threads: Int, name: String) throws(HTTPServerError) {
        threadCount = max(1, threads)
        available = .allocate(capacity: 1)
        sem_init(available, 0, 0)
        for index in 0..<threadCount {
            try spawnThread(name: "\(name)-\(index)") { [self] in work() }
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.withLock { $0.jobs.append(job) }
        sem_post(available)
    }

    private func work() {
        let executor = asUnownedTaskExecutor()
        while true {
            if sem_wait(available) != 0 { continue }  // EINTR
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
            cshim_inflight_end()  // a task that suspended is no longer this thread's request
        }
    }
}
