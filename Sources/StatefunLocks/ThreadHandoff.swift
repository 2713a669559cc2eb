/// Awaits a result that another thread (one of ours, not a task) delivers:
/// `withCheckedThrowingContinuation`, with the result handed over under a
/// ``Lock``.
///
/// A continuation alone is correct, but the concurrency runtime that resumes
/// the task is not instrumented: ThreadSanitizer sees no ordering between what
/// the delivering thread wrote (the result, and everything it points to) and
/// what the task reads after it resumes, and reports a race. The lock's
/// release and acquire are that ordering, which it sees.
///
///     let reply = try await withThreadHandoff { deliver in
///         Thread { deliver(Result { try blockingCall() }) }.start()
///     }
package func withThreadHandoff<T: Sendable>(
    _ start: (_ deliver: @escaping @Sendable (Result<T, any Error>) -> Void) -> Void
) async throws -> T {
    let slot = Lock<Result<T, any Error>?>(nil)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        start { result in
            slot.withLock { $0 = result }
            continuation.resume()
        }
    }
    guard let result = slot.withLock({ $0 }) else { preconditionFailure("resumed without a result") }
    return try result.get()
}
