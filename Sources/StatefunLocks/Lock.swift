#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
public import Darwin
#endif

/// A value guarded by a `pthread_mutex_t`: what the package locks with, in
/// place of `Synchronization.Mutex`.
///
/// On Linux, `Mutex` locks with futexes inside the uninstrumented Swift
/// runtime, so ThreadSanitizer sees no happens-before between two of its
/// critical sections and reports every value it guards as racy (and
/// suppressing those reports would hide real races). `pthread_mutex_lock` and
/// `pthread_mutex_unlock` are intercepted by ThreadSanitizer, which then checks
/// the guarded value like any other: `make test-tsan` means something.
///
/// The same shape as `Mutex`: the value lives inside, and is reached only in
/// ``withLock(_:)``. The mutex is allocated once, with the lock, initialised
/// there and destroyed in `deinit`: it never moves (a `pthread_mutex_t` must
/// not, and the address of a Swift stored property is not stable).
///
/// Public, not `package`, though only this package's targets depend on it:
/// the server takes locks on every request (the loop's inbox, the arena's
/// chunk pool), and only a public `@inlinable` body is specialized in the
/// modules that call it. A `package` one was called as unspecialized generic
/// code, 100 to 200 instructions a call more (callgrind, `server-profile`).
public final class Lock<Value: ~Copyable>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Only reached under the lock: no dynamic exclusivity check needed.
    @usableFromInline @exclusivity(unchecked) var value: Value

    @inlinable
    public init(_ initialValue: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed (\(status))")
        value = initialValue
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock, and releases the lock
    /// however `body` ends (returning or throwing).
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
