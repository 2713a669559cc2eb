import Glibc
@testable import StatefunServer
import Testing

/// A socket stand-in for ``OutboundQueue/write(now:_:)``: takes at most `limit`
/// bytes a call (then would block, or fails, as scripted), and records them.
private struct FakeSocket {
    var received: [UInt8] = []
    var calls: [Int] = []  // chunks offered per call
    var limits: [Int?]  // bytes taken per call; nil: would block
    var failure: SystemError?

    mutating func write(_ chunks: ArraySlice<[UInt8]>, _ offset: Int) throws(SystemError) -> IOResult<Int> {
        calls.append(chunks.count)
        if let failure { throw failure }
        let limit = limits.isEmpty ? Int.max : limits.removeFirst()
        guard let limit else { return .wouldBlock }
        var bytes = chunks.flatMap { $0 }
        bytes.removeFirst(offset)
        let taken = bytes.prefix(limit)
        received += taken
        return .processed(taken.count)
    }
}

extension FakeSocket {
    mutating func take(_ queue: inout OutboundQueue, now: UInt64) -> OutboundQueue.WriteOutcome {
        queue.write(now: now) { chunks, offset throws(SystemError) in try write(chunks, offset) }
    }
}

private func chunks(_ count: Int, size: Int) -> [[UInt8]] {
    (0..<count).map { i in (0..<size).map { UInt8(truncatingIfNeeded: i * 31 + $0) } }
}

@Suite("The outbound queue: queued chunks, vectored and partial writes")
struct OutboundQueueTests {
    @Test("all chunks go out in vectored writes of at most maxVector chunks, in order")
    func manyChunks() {
        let input = chunks(40, size: 7)
        var queue = OutboundQueue()
        for chunk in input { queue.append(chunk, now: 1) }
        #expect(queue.byteCount == 280)
        var socket = FakeSocket(limits: [])
        #expect(socket.take(&queue, now: 2) == .drained)
        #expect(socket.received == input.flatMap { $0 })
        #expect(socket.calls == [16, 16, 8])
        #expect(queue.isEmpty)
        #expect(queue.byteCount == 0)
    }

    @Test("partial writes resume mid-chunk, and across chunk boundaries")
    func partialWrites() {
        let input = chunks(5, size: 10)
        var queue = OutboundQueue()
        for chunk in input { queue.append(chunk, now: 1) }
        var socket = FakeSocket(limits: [3, 7, 15, 1, 24])
        #expect(socket.take(&queue, now: 2) == .drained)
        #expect(socket.received == input.flatMap { $0 })
        #expect(socket.calls == [5, 5, 4, 3, 3])
    }

    @Test("a full socket leaves the rest queued, and the next write goes on where it stopped")
    func wouldBlock() {
        let input = chunks(3, size: 100)
        var queue = OutboundQueue()
        for chunk in input { queue.append(chunk, now: 1) }
        var socket = FakeSocket(limits: [150, nil])
        #expect(socket.take(&queue, now: 5) == .wouldBlock)
        #expect(queue.byteCount == 150)
        #expect(queue.chunks.count == 2)
        #expect(queue.offset == 50)
        #expect(queue.lastProgress == 5)
        socket.limits = []
        #expect(socket.take(&queue, now: 9) == .drained)
        #expect(socket.received == input.flatMap { $0 })
        #expect(queue.lastProgress == 9)
    }

    @Test("a failed write is reported and leaves the queue as it was")
    func failure() {
        var queue = OutboundQueue()
        queue.append([1, 2, 3], now: 1)
        queue.append([4, 5], now: 1)
        var socket = FakeSocket(limits: [1])
        socket.failure = SystemError("sendmsg", EPIPE)
        #expect(socket.take(&queue, now: 2) == .failed(SystemError("sendmsg", EPIPE)))
        #expect(queue.byteCount == 5)
        #expect(queue.chunks == [[1, 2, 3], [4, 5]])
        #expect(queue.lastProgress == 1)
    }

    @Test("a write of nothing counts as a full socket, not as progress")
    func zeroWritten() {
        var queue = OutboundQueue()
        queue.append([1, 2, 3], now: 1)
        var socket = FakeSocket(limits: [0])
        #expect(socket.take(&queue, now: 2) == .wouldBlock)
        #expect(socket.calls == [1])
        #expect(queue.byteCount == 3)
    }

    @Test("progress time: set when the queue starts filling and on each write, not on later appends")
    func progressTime() {
        var queue = OutboundQueue()
        queue.append([], now: 3)  // nothing queued: nothing changes
        #expect(queue.isEmpty)
        #expect(queue.lastProgress == 0)
        queue.append([1], now: 10)
        queue.append([2], now: 20)
        #expect(queue.lastProgress == 10)
        queue.removeAll()
        #expect(queue.isEmpty)
        #expect(queue.byteCount == 0)
    }

    @Test("over a real socket pair: megabytes in a few chunks, written as the reader drains them")
    func socketPair() throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        defer { for fd in fds { close(fd) } }
        let input = chunks(3, size: 1 << 20) + chunks(20, size: 5)
        var queue = OutboundQueue()
        for chunk in input { queue.append(chunk, now: 1) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var blocked = 0
        var rounds = 0
        while true {
            rounds += 1
            try #require(rounds < 10_000)
            let outcome = queue.write(to: fds[0], now: 2)
            if outcome == .drained { break }
            try #require(outcome == .wouldBlock)
            blocked += 1
            let n = read(fds[1], &buffer, buffer.count)
            try #require(n > 0)
            received += buffer[0..<n]
        }
        while true {
            let n = read(fds[1], &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        #expect(blocked > 0)  // the socket filled up: partial writes happened
        #expect(received.count == input.reduce(0) { $0 + $1.count })
        #expect(received == input.flatMap { $0 })
    }

    @Test("over a real socket pair: a peer that went away is EPIPE, not SIGPIPE")
    func socketPairClosed() throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        defer { close(fds[0]) }
        close(fds[1])
        var queue = OutboundQueue()
        queue.append([1, 2, 3], now: 1)
        queue.append([4, 5, 6], now: 1)
        #expect(queue.write(to: fds[0], now: 2) == .failed(SystemError("sendmsg", EPIPE)))
        queue.removeAll()
        queue.append([7], now: 3)
        #expect(queue.write(to: fds[0], now: 4) == .failed(SystemError("send", EPIPE)))
    }
}
