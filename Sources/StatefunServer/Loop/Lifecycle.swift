import StatefunLocks

/// Tracks running loops so ``HTTPServer/waitUntilStopped()`` can wait for them.
final class Lifecycle: Sendable {
    struct State {
        var liveLoops = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    let state = Lock(State())

    func loopsStarting(_ count: Int) {
        state.withLock { $0.liveLoops += count }
    }

    func loopExited() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.liveLoops -= 1
            guard s.liveLoops == 0 else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.liveLoops == 0 { return true }
                s.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
