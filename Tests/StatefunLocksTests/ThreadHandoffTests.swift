import Foundation
import StatefunLocks
import Testing

@Suite struct ThreadHandoffTests {
    private final class Made: Sendable {
        let text: String
        init(_ text: String) { self.text = text }
    }

    private struct Failed: Error, Equatable {}

    /// The object is made on the thread and read by the task: under
    /// ThreadSanitizer (`make test-tsan`) a continuation alone was reported as a race here.
    @Test func deliversWhatAThreadMadeToTheTask() async throws {
        for round in 0..<20 {
            let made = try await withThreadHandoff { deliver in
                Thread { deliver(.success(Made("round \(round)"))) }.start()
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
