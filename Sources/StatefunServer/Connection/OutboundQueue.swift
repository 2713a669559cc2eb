/// The bytes a connection has yet to send, in the order they were queued
/// (SwiftNIO's `PendingWritesManager` is the model): chunks, never empty, and
/// how much of the first is written. Written with vectored writes of up to
/// ``maxVector`` chunks; a partial write leaves the rest queued.
struct OutboundQueue {
    /// At most this many chunks go to the kernel in one write.
    static let maxVector = 16

    private(set) var chunks: [[UInt8]] = []
    /// Bytes of `chunks[0]` already written.
    private(set) var offset = 0
    /// Bytes queued and not yet written (what the HTTP/2 high-water mark compares).
    private(set) var byteCount = 0
    /// When bytes were last queued into an empty queue or written (monotonic ns):
    /// a client that stops reading is noticed by this not moving.
    private(set) var lastProgress: UInt64 = 0

    var isEmpty: Bool { chunks.isEmpty }

    /// Queues `bytes` (nothing if empty).
    @inline(__always)
    mutating func append(_ bytes: [UInt8], now: UInt64) {
        guard !bytes.isEmpty else { return }
        if chunks.isEmpty { lastProgress = now }
        chunks.append(bytes)
        byteCount += bytes.count
    }

    /// How a ``write(now:_:)`` ended.
    enum WriteOutcome: Equatable {
        /// Everything queued is written.
        case drained
        /// The socket takes no more for now; the rest stays queued.
        case wouldBlock
        /// The write failed; the queue is as it was before the failing call.
        case failed(SystemError)
    }

    /// Writes queued chunks with `writer` (given up to ``maxVector`` chunks and
    /// the offset into the first, it returns how many bytes it wrote) until all
    /// are written, the writer would block, or fails.
    @inline(__always)
    mutating func write(
        now: UInt64, _ writer: (ArraySlice<[UInt8]>, Int) throws(SystemError) -> IOResult<Int>
    ) -> WriteOutcome {
        while !chunks.isEmpty {
            let result: IOResult<Int>
            do throws(SystemError) {
                result = try writer(chunks.prefix(Self.maxVector), offset)
            } catch {
                return .failed(error)
            }
            // Nothing written is treated as a full socket: never a busy loop.
            guard case .processed(let written) = result, written > 0 else { return .wouldBlock }
            consume(written, now: now)
        }
        return .drained
    }

    /// Drops `written` bytes from the front of the queue.
    @inline(__always)
    mutating func consume(_ written: Int, now: UInt64) {
        lastProgress = now
        guard written < byteCount else {
            // All of it went (the common case): no chunk is looked at or shifted.
            chunks.removeAll(keepingCapacity: true)
            offset = 0
            byteCount = 0
            return
        }
        byteCount -= written
        var remaining = written + offset
        var done = 0
        while remaining >= chunks[done].count {
            remaining -= chunks[done].count
            done += 1
        }
        if done > 0 { chunks.removeFirst(done) }
        offset = remaining
    }

    /// Forgets everything queued, and the memory it held.
    mutating func removeAll() {
        chunks = []
        offset = 0
        byteCount = 0
    }
}

extension OutboundQueue {
    /// Writes queued chunks to a socket (see ``write(now:_:)``).
    @inline(__always)
    mutating func write(to fd: Int32, now: UInt64) -> WriteOutcome {
        write(now: now) { chunks, offset throws(SystemError) in
            try Posix.send(fd, chunks: chunks, firstOffset: offset)
        }
    }
}
