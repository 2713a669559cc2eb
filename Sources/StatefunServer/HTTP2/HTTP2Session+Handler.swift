// The session as its driver (HTTP2Driver) feeds it: the connection-handler
// interface both protocols share (Connection/ConnectionHandler.swift).

extension HTTP2Session: ConnectionHandler {
    /// Read until the client closes its side (the loop stops reading while the output is backed up).
    var wantsInput: Bool { !peerClosed }

    func takeMemoryWait() -> Bool {
        defer { memoryWaitRequested = false }
        return memoryWaitRequested
    }

    func nextRead(now: UInt64) -> ConnectionRead {
        peerClosed ? .none : .buffer(limit: .max)
    }

    /// Never asked for: frames are read into the loop's buffer.
    func withDirectSpace<R>(_ read: (inout MutableRawSpan) -> R) -> R {
        var nothing: [UInt8] = []
        return nothing.withMutableBytes(in: 0..<0, read)
    }

    func directRead<A: RequestAdmitting>(_ count: Int, now: UInt64, admission: A) -> HTTP2Action { .none }

    /// Feeds the bytes to nghttp2; the requests it completed are dispatched as they complete.
    func received<A: RequestAdmitting>(_ bytes: RawSpan, now: UInt64, admission: A) -> HTTP2Action {
        self.now = now
        lastInput = now
        guard receive(bytes) else {
            dropReadyRequests()
            return .fail
        }
        return nextReadyRequest < readyRequests.count ? .answerReady : .write
    }

    /// Streams being handled still get their responses (the connection closes
    /// after them); their handlers are cancelled, as on HTTP/1.1.
    func peerClosedInput() -> HTTP2Action {
        peerClosed = true
        clientWentAway()
        return .write
    }

    /// Closes an idle session (no streams, no input for the idle timeout) with
    /// GOAWAY; else the sweep of ``sweep(now:)``.
    func tick(now: UInt64, underPressure: Bool) -> HTTP2Action {
        self.now = now
        if streams.isEmpty && now - lastInput > context.idleTimeout {
            logger.debug("closing idle HTTP/2 connection", metadata: ["peer": "\(peer)"])
            closeIdle()
        } else {
            sweep(now: now)
        }
        return .write
    }

    /// The window may widen now (``replenishWindow()``, before the next write).
    func memoryReleased<A: RequestAdmitting>(now: UInt64, admission: A) -> HTTP2Action {
        self.now = now
        return .write
    }

    func beginDrain(now: UInt64) {
        beginShutdown(now: now)
    }

    /// The connection ends once nghttp2 is done, or the client has closed its
    /// side and no handler is left to answer.
    var isDone: Bool { isFinished || (peerClosed && handlersRunning == 0) }
}
