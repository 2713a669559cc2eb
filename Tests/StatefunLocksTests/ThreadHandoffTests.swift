import Foundation
import Glibc
import StatefunLocks
import Synchronization
import Testing

@Suite struct ThreadHandoffTests {
    private final class Made: Sendable {
        let text: String
        init(_ text: String) { self.text = text }
    }

    private struct Failed: Error, Equatable {}

    private final class Delivered: Sendable {
        let flag = Atomic<Bool>(false)
    }

    /// The object is made on the thread and read by the task, and the thread
    /// delivers it before the task suspends (the continuation's fast path: the
    /// task goes on without being enqueued, so nothing the runtime tells
    /// ThreadSanitizer orders the two). The wait for the delivery is a relaxed
    /// atomic, which orders nothing either. Under ThreadSanitizer (`make
    /// test-tsan`), a plain continuation in withThreadHandoff is reported here
    /// as a race on `text`.
    @Test func deliversWhatAThreadMadeToTheTask() async throws {
        for round in 0..<5 {
            let made = try await withThreadHandoff { deliver in
                let delivered = Delivered()
                Thread {
                    deliver(.success(Made("round \(round)")))
                    delivered.flag.store(true, ordering: .relaxed)
                }.start()
                while !delivered.flag.load(ordering: .relaxed) { sched_yield() }
            }
            #expect(made.text == "round \(round)")
        }
    }

    @Test func throwsWhatTheThreadFailedWith() async {
        await #expect(throws: Failed.self) {
            let _: Int = try await withThreadHandoff { deliver in
                Thread { deliver(.failure(Failed())) }.start()
            }
        }
    }

    @Test func acceptsADeliveryBeforeTheTaskSuspends() async throws {
        let value = try await withThreadHandoff { deliver in deliver(.success(42)) }
        #expect(value == 42)
    }
}
