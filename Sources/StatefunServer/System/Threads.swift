import CLinuxShims
import Glibc

/// Starts a detached pthread running `body`.
func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(HTTPServerError) {
    final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            cshim_set_thread_name(String(box.name.prefix(15)))
            box.body()
            return nil
        }, box)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        throw .system("pthread_create", rc)
    }
    pthread_detach(thread)
}

/// A counting semaphore (`sem_t`) that threads sleep on.
final class Semaphore: @unchecked Sendable {
    private let semaphore: UnsafeMutablePointer<sem_t>

    init(value: UInt32 = 0) {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, value)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Adds one, waking a waiter if there is one.
    func post() {
        sem_post(semaphore)
    }

    /// Waits until the count is above zero, and takes one; false if it could not.
    func wait() -> Bool {
        guard case .processed = try? syscall("sem_wait", { sem_wait(semaphore) }) else { return false }
        return true
    }
}
