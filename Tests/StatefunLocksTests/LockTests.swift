import Foundation
import Glibc
@testable import StatefunLocks
import Synchronization
import Testing

@Suite struct LockTests {
    private struct Counted {
        var count = 0
        /// Set when a body found another body inside the lock.
        var overlapped = false
    }

    /// Counts the bodies inside the lock at once.
    private final class Inside: Sendable {
        let count = Atomic<Int>(0)
    }

    /// Runs `body(i)` on `count` threads of their own at once and returns when all have finished.
    private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let done = DispatchSemaphore(value: 0)
        for i in 0..<count {
            let thread = Thread {
                body(i)
                done.signal()
            }
            thread.start()
        }
        for _ in 0..<count { done.wait() }
    }

    @Test func excludesThreadsUnderContention() {
        let lock = Lock(Counted())
        let inside = Inside()
        let threads = 8
        let rounds = 2_000
        onThreads(threads) { _ in
            for round in 0..<rounds {
                lock.withLock { value in
                    if inside.count.add(1, ordering: .relaxed).newValue != 1 { value.overlapped = true }
                    let before = value.count
                    // Give the others the processor while holding the lock: a
                    // lock that let them in would be found out here.
                    if round % 8 == 0 { sched_yield() }
                    value.count = before + 1
                    inside.count.subtract(1, ordering: .relaxed)
                }
            }
        }
        let (count, overlapped) = lock.withLock { ($0.count, $0.overlapped) }
        #expect(!overlapped)
        #expect(count == threads * rounds)
    }

    @Test func excludesTasksUnderContention() async {
        let lock = Lock(Counted())
        let inside = Inside()
        let tasks = 64
        let rounds = 500
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for round in 0..<rounds {
                        lock.withLock { value in
                            if inside.count.add(1, ordering: .relaxed).newValue != 1 { value.overlapped = true }
                            let before = value.count
                            if round % 8 == 0 { sched_yield() }
                            value.count = before + 1
                            inside.count.subtract(1, ordering: .relaxed)
                        }
                    }
                }
            }
        }
        let (count, overlapped) = lock.withLock { ($0.count, $0.overlapped) }
        #expect(!overlapped)
        #expect(count == tasks * rounds)
    }

    @Test func returnsTheBodysResultAndKeepsItsChanges() {
        let lock = Lock([1, 2, 3])
        let sum = lock.withLock { numbers -> Int in
            numbers.append(4)
            return numbers.reduce(0, +)
        }
        #expect(sum == 10)
        #expect(lock.withLock { $0 } == [1, 2, 3, 4])
    }

    private struct Refused: Error, Equatable {
        let reason: String
    }

    @Test func aThrowingBodyUnlocksAndKeepsItsErrorType() throws {
        let lock = Lock(0)
        do throws(Refused) {
            try lock.withLock { (value: inout sending Int) throws(Refused) -> Void in
                value = 7
                throw Refused(reason: "no")
            }
            Issue.record("the body's error was not thrown")
        } catch {
            #expect(error == Refused(reason: "no"))
        }
        // Unlocked: another thread takes the mutex at once (a trylock never waits).
        let taken = Lock<Int32>(-1)
        onThreads(1) { _ in
            let status = pthread_mutex_trylock(lock.mutex)
            if status == 0 { pthread_mutex_unlock(lock.mutex) }
            taken.withLock { $0 = status }
        }
        // (Required: a lock left held would hang the read below.)
        try #require(taken.withLock { $0 } == 0)
        // What the body changed before throwing stays, as with Mutex.
        #expect(lock.withLock { $0 } == 7)
    }

    @Test func holdsTheMutexOnlyInsideTheBody() {
        let lock = Lock(0)
        let inside = Lock<Int32>(-1)
        lock.withLock { _ in
            onThreads(1) { _ in
                let status = pthread_mutex_trylock(lock.mutex)
                inside.withLock { $0 = status }
            }
        }
        #expect(inside.withLock { $0 } == EBUSY)
        #expect(pthread_mutex_trylock(lock.mutex) == 0)
        pthread_mutex_unlock(lock.mutex)
    }

    private final class Tracked: Sendable {}

    @Test func releasesItsValueWithIt() {
        weak var tracked: Tracked?
        do {
            let value = Tracked()
            tracked = value
            let lock = Lock([value])
            #expect(lock.withLock { $0.count } == 1)
        }
        #expect(tracked == nil)
    }

    private struct Token: ~Copyable {
        var uses = 0
    }

    @Test func guardsANoncopyableValue() {
        let lock = Lock(Token())
        lock.withLock { $0.uses += 1 }
        lock.withLock { $0.uses += 1 }
        #expect(lock.withLock { $0.uses } == 2)
    }
}
