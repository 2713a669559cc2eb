// Request bodies: fixed-length and chunked framing, and the server's bound on
// body memory (BodyMemoryBudget): memory is reserved as body bytes are taken; a
// body that cannot get it is not read until memory is released, and shed with
// 503 if it waits too long.

extension HTTP1StateMachine {
    enum BodyAdmission {
        /// This many of the bytes offered may be taken now.
        case admitted(Int)
        /// The body can never fit (413).
        case rejected(HTTP1Action)
    }

    /// The fixed-length body, from the buffered input.
    mutating func processFixedBody(now: UInt64) -> HTTP1Action {
        let available = inbound.count - inboundStart
        if available > 0 {
            switch admitBody(min(available, bodyRemaining)) {
            case .rejected(let action): return action
            case .admitted(let n) where n > 0:
                let start = inboundStart
                let input = inbound
                appendBody(input.span.extracting(start..<(start + n)))
                inboundStart += n
            case .admitted: break
            }
        }
        guard bodyRemaining == 0 else { return .none }
        return discarding != nil ? sendDiscardedRejection(now: now) : dispatch(now: now)
    }

    /// The chunked body, from the buffered input.
    mutating func processChunkedBody(now: UInt64) -> HTTP1Action {
        guard hasBufferedInput, var decoder = chunkedDecoder else { return .none }
        // Decoded bytes are never more than the input: memory for the input is enough.
        let allowed: Int
        switch admitBody(inbound.count - inboundStart) {
        case .rejected(let action): return action
        case .admitted(let n): allowed = n
        }
        if allowed == 0 { return .none }
        var body = self.body
        self.body = []
        let maxBody = limits.maxBodySize
        let maxTrailer = limits.maxHeaderSize
        let start = inboundStart
        let input = inbound
        let result: Result<Int, HTTPError>
        do throws(HTTPError) {
            result = .success(
                try decoder.feed(
                    input.span.extracting(start..<(start + allowed)), into: &body, maxBodySize: maxBody,
                    maxTrailerSize: maxTrailer))
        } catch {
            result = .failure(error)
        }
        self.body = body
        chunkedDecoder = decoder
        trimBodyReservation()
        switch result {
        case .failure(let error):
            return reject(error, now: now)
        case .success(let consumed):
            inboundStart += consumed
            return decoder.isDone ? dispatch(now: now) : .none
        }
    }

    /// Adds bytes of a fixed-length body (or drops them: ``discarding``).
    mutating func appendBody(_ bytes: Span<UInt8>) {
        guard !bytes.isEmpty else { return }
        if discarding != nil {
            bodyRemaining -= bytes.count
            return
        }
        if let filled = bodyFilled {
            if filled == 0 && bytes.count == bodyRemaining {
                // The whole body in one piece (a small request): an array of exactly its bytes.
                body = [UInt8](copying: bytes)
                bodyFilled = bytes.count
                bodyRemaining = 0
                return
            }
            allocateWholeBody()
            body.replaceBytes(at: filled, with: bytes)
            bodyFilled = filled + bytes.count
            bodyRemaining -= bytes.count
            return
        }
        let needed = body.count + bytes.count
        if needed > body.capacity {
            // Grow towards the declared length, without trusting it up front.
            let total = body.count + bodyRemaining
            body.reserveCapacity(min(total, max(needed, body.capacity * 4)))
        }
        body.append(copying: bytes)
        bodyRemaining -= bytes.count
    }

    /// Allocates a body read whole (``bodyFilled``) if it is not yet: no byte
    /// of it is read before all have arrived.
    mutating func allocateWholeBody() {
        guard bodyFilled == 0, body.isEmpty else { return }
        let length = bodyRemaining
        body = [UInt8](uninitializedCount: length)
    }

    // MARK: - Body memory

    /// How many of `count` more bytes the body may take now (`0...count`),
    /// reserving the memory they need. Short of memory, the body waits (it is
    /// not read) until some is released. A body allocated whole needs its
    /// declared length at once: all of `count` or nothing.
    @inline(__always)
    mutating func admitBody(_ count: Int) -> BodyAdmission {
        let total = bodyFilled.map { $0 + bodyRemaining } ?? body.count + count
        let needed = total - BodyMemoryBudget.perConnectionAllowance - bodyReserved
        if needed <= 0 { return .admitted(count) }
        return admitBodyBeyondAllowance(count, needed: needed)
    }

    @inline(never)
    private mutating func admitBodyBeyondAllowance(_ count: Int, needed: Int) -> BodyAdmission {
        if discarding != nil { return .admitted(count) }
        if body.count + count - BodyMemoryBudget.perConnectionAllowance > budget.limit {
            // A body of unknown length (chunked) outgrowing the whole bound can never fit.
            return .rejected(
                reject(HTTPError(413, "request body exceeds the server's body memory of \(budget.limit) bytes"), now: now))
        }
        let whole = bodyFilled != nil
        let granted = budget.reserve(upTo: needed)
        if whole && granted < needed {
            budget.release(granted)
            waitForMemory()
            return .admitted(0)
        }
        bodyReserved += granted
        if granted < needed {
            waitForMemory()
            return .admitted(count - (needed - granted))
        }
        memoryAdmitted()
        return .admitted(count)
    }

    /// Gives back what a chunked body reserved for its framing: it holds what it decoded.
    mutating func trimBodyReservation() {
        let wanted = max(0, body.count - BodyMemoryBudget.perConnectionAllowance)
        guard bodyReserved > wanted else { return }
        budget.release(bodyReserved - wanted)
        bodyReserved = wanted
    }

    /// The request's body is gone (handled, rejected, or the connection closed): its memory is released.
    mutating func releaseBodyMemory() {
        memoryAdmitted()
        guard bodyReserved > 0 else { return }
        let reserved = bodyReserved
        bodyReserved = 0
        budget.release(reserved)
    }

    /// Whether the body began waiting for memory since the last call: the
    /// driver then asks to be woken when memory is released (``memoryReleased(now:admission:)``).
    mutating func takeMemoryWait() -> Bool {
        guard memoryWaitBegan else { return false }
        memoryWaitBegan = false
        return true
    }

    /// Memory was released: a body waiting for it goes on.
    mutating func memoryReleased<A: RequestAdmitting>(now: UInt64, admission: A) -> HTTP1Action {
        guard memoryBlocked, state == .body else { return .none }
        memoryBlocked = false
        return process(now: now, admission: admission)
    }

    /// Whether the body waits for memory (the connection is not read meanwhile).
    var waitsForMemory: Bool { memoryBlocked }

    private mutating func waitForMemory() {
        memoryBlocked = true
        memoryWaitBegan = true
        if memoryWaitSince == nil {
            memoryWaitSince = now
            budget.countWaiter(1)
        }
    }

    private mutating func memoryAdmitted() {
        memoryBlocked = false
        if memoryWaitSince != nil {
            memoryWaitSince = nil
            budget.countWaiter(-1)
        }
    }

    /// Sheds, with 503 and `Retry-After`, a body that waited for memory longer
    /// than the limit, or that holds memory and made no progress for as long
    /// while other bodies wait for memory.
    mutating func shedForMemory(now: UInt64, underPressure: Bool) -> HTTP1Action? {
        let wait = limits.bodyMemoryWaitNanos
        let reason: String
        if let since = memoryWaitSince, now - since > wait {
            reason = "request body waited for memory for more than \(limits.bodyMemoryWait)"
        } else if bodyReserved > 0 && underPressure && now - lastActivity > wait {
            reason = "request body made no progress for \(limits.bodyMemoryWait) while others waited for memory"
        } else {
            return nil
        }
        return reject(
            HTTPError(503, "\(reason) (the server's body memory is \(budget.limit) bytes)"),
            extraHeaders: [(name: "Retry-After", value: bodyMemoryRetryAfter)], now: now)
    }
}
