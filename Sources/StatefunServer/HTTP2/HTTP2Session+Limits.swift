// What one connection may cost: request-body memory and the connection window
// that follows it, floods of empty DATA frames, and streams that stop moving.
import Logging

extension HTTP2Session {
    /// More empty DATA frames in a row than this end the connection with
    /// GOAWAY(ENHANCE_YOUR_CALM): they cost the server work and carry nothing.
    static let maxConsecutiveEmptyData = 100

    var windowCap: Int {
        min(max(configuration.http2.connectionWindowSize, BodyMemoryBudget.perConnectionAllowance), Int(Int32.max))
    }

    /// Counts an empty DATA frame without END_STREAM; false once they are a flood.
    func emptyData() -> Bool {
        consecutiveEmptyData += 1
        guard consecutiveEmptyData > Self.maxConsecutiveEmptyData else { return true }
        logger.notice(
            "HTTP/2 flood of empty DATA frames; sending GOAWAY(ENHANCE_YOUR_CALM)",
            metadata: ["peer": "\(peer)", "frames": "\(consecutiveEmptyData)"])
        nghttp2.terminate(.enhanceYourCalm)
        return false
    }

    func nonEmptyData() {
        consecutiveEmptyData = 0
    }

    /// Periodic checks: the shutdown PING that never came back, stalled request
    /// bodies, responses the client's flow-control window holds back for too
    /// long. Per stream: a client keeping the connection busy (PINGs, other
    /// streams) cannot keep a stalled stream open forever.
    func sweep(now: UInt64) {
        if case .noticeSent(let at) = shutdown, now - at > 1_000_000_000 { sendFinalGoaway() }
        if let timeout = context.requestTimeout {
            for stream in streams.values where stream.state == .handling && now - stream.handlingSince > timeout {
                guard let task = stream.handlerTask.take() else { continue }
                task.cancel()
                logger.notice(
                    "request timed out; cancelling its handler",
                    metadata: ["peer": "\(peer)", "stream": "\(stream.id)"])
            }
        }
        let idleTimeout = context.idleTimeout
        shedForMemory(now: now)
        for stream in Array(streams.values) where now - stream.lastProgress > idleTimeout {
            switch stream.state {
            case .headers, .body:
                stream.lastProgress = now
                reject(stream, HTTPError(408, "request body stalled for \(configuration.idleTimeout)"))
            case .answered:
                // The response (or the rest of the request we answered early) is stuck.
                stream.lastProgress = now
                logger.notice(
                    "HTTP/2 stream made no progress (the client's window stays closed, or it stopped sending); resetting it",
                    metadata: ["peer": "\(peer)", "stream": "\(stream.id)"])
                nghttp2.submitReset(stream: stream.id, .cancel)
            case .handling:
                break
            }
        }
    }

    // MARK: - Body memory

    func setDemand(_ stream: HTTP2Stream, _ value: Int) {
        demand += value - stream.demand
        stream.demand = value
    }

    func dropBody(_ stream: HTTP2Stream) {
        held -= stream.body.count
        stream.body = []
    }

    /// Widens the connection's receive window towards what its streams have
    /// declared (at least the protocol's 65,535 bytes, at most the configured
    /// window) as far as the server's body memory allows, and gives back
    /// memory no longer needed. Short of memory, the connection waits for a
    /// release (``takeMemoryWait()``). Called before each write.
    func replenishWindow() {
        let base = BodyMemoryBudget.perConnectionAllowance
        let available = nghttp2.localWindowSize
        let desired = min(windowCap, base + demand)
        var increment = desired - available
        // As nghttp2 does: no update before half the window is used.
        if increment * 2 < desired { increment = 0 }
        let needed = max(0, held + available + increment - base)
        if needed > reserved {
            let budget = context.bodyMemory
            reserved += budget.reserve(upTo: needed - reserved)
            let shortfall = needed - reserved
            if shortfall > 0 {
                increment = max(0, increment - shortfall)
                if memoryWaitSince == nil {
                    memoryWaitSince = now
                    budget.countWaiter(1)
                }
                memoryWaitRequested = true
            } else {
                memoryAdmitted()
            }
        } else {
            memoryAdmitted()
        }
        if increment > 0 {
            nghttp2.submitWindowUpdate(stream: 0, increment: increment)
        }
        let wanted = max(0, held + available + increment - base)
        if reserved > wanted {
            context.bodyMemory.release(reserved - wanted)
            reserved = wanted
        }
    }

    func memoryAdmitted() {
        guard memoryWaitSince != nil else { return }
        memoryWaitSince = nil
        context.bodyMemory.countWaiter(-1)
    }

    /// While bodies wait for memory: sheds, with 503 and `Retry-After`, the
    /// streams receiving a body that made no progress for
    /// ``HTTPServerConfiguration/bodyMemoryWait`` (starved of window, or stalled holding memory).
    func shedForMemory(now: UInt64) {
        let budget = context.bodyMemory
        guard budget.underPressure else { return }
        let wait = context.bodyMemoryWait
        for stream in Array(streams.values) where stream.state == .body && now - stream.lastProgress > wait {
            stream.lastProgress = now
            reject(
                stream,
                HTTPError(
                    503,
                    "request body made no progress for \(configuration.bodyMemoryWait) while bodies waited for memory (the server's body memory is \(budget.limit) bytes)"),
                extraHeaders: [(name: "retry-after", value: bodyMemoryRetryAfter)])
        }
    }

}
