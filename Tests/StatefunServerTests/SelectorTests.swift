import Glibc
@testable import StatefunServer
import Testing

private func socketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
    return (fds[0], fds[1])
}

private func events(_ selector: Selector, timeout: Int32 = 0) throws -> [UInt64: SelectorEvents] {
    let count = try selector.wait(timeoutMilliseconds: timeout)
    var result: [UInt64: SelectorEvents] = [:]
    for i in 0..<count { result[selector[i].token] = selector[i].events }
    return result
}

@Suite("The selector over epoll, and the syscall wrapper")
struct SelectorTests {
    @Test("a registered socket is reported with its token for what it is ready for")
    func readinessByToken() throws {
        let selector = try Selector()
        let (a, b) = try socketPair()
        defer { close(a); close(b) }
        try selector.register(a, token: 42, interest: .readable)
        #expect(try events(selector).isEmpty)  // nothing to read yet
        #expect(write(b, "x", 1) == 1)
        let ready = try events(selector, timeout: 1000)
        #expect(ready.count == 1)
        #expect(ready[42] == .readable)
        // Level-triggered: still reported while unread.
        #expect(try events(selector)[42] == .readable)
    }

    @Test("reregistering changes the interest; deregistering ends the reports")
    func interestChanges() throws {
        let selector = try Selector()
        let (a, b) = try socketPair()
        defer { close(a); close(b) }
        try selector.register(a, token: 7, interest: [])
        #expect(try events(selector).isEmpty)
        try selector.reregister(a, token: 7, interest: .writable)
        #expect(try events(selector)[7] == .writable)
        try selector.reregister(a, token: 8, interest: [.readable, .writable])
        #expect(write(b, "x", 1) == 1)
        #expect(try events(selector)[8] == [.readable, .writable])
        try selector.deregister(a)
        #expect(try events(selector).isEmpty)
    }

    @Test("a peer's shutdown is a read hang-up; its close a hang-up as well")
    func hangups() throws {
        let selector = try Selector()
        let (a, b) = try socketPair()
        defer { close(a) }
        try selector.register(a, token: 1, interest: .readHangup)
        #expect(try events(selector).isEmpty)
        shutdown(b, Int32(SHUT_WR))
        #expect(try events(selector)[1] == .readHangup)
        close(b)
        let ready = try events(selector)
        #expect(ready[1]?.contains(.hangup) == true)
    }

    @Test("errors of epoll come back as the call's errno")
    func errors() throws {
        let selector = try Selector()
        let (a, b) = try socketPair()
        defer { close(a); close(b) }
        #expect(throws: SystemError("epoll_ctl(MOD)", ENOENT)) { try selector.reregister(a, token: 1, interest: .readable) }
        try selector.register(a, token: 1, interest: .readable)
        #expect(throws: SystemError("epoll_ctl(ADD)", EEXIST)) { try selector.register(a, token: 1, interest: .readable) }
        #expect(throws: SystemError("epoll_ctl(DEL)", EBADF)) { try selector.deregister(-1) }
    }

    @Test("the syscall wrapper: a value, EAGAIN as would-block, other errors thrown")
    func syscallResults() throws {
        let (a, b) = try socketPair()
        defer { close(a); close(b) }
        var buffer: [UInt8] = [0]
        func read(_ fd: Int32) throws(SystemError) -> IOResult<Int> {
            try buffer.withUnsafeMutableBytes { bytes in
                Result { () throws(SystemError) in try Posix.read(fd, into: bytes) }
            }.get()
        }
        let empty = try read(a)
        guard case .wouldBlock = empty else {
            Issue.record("expected would-block, got \(empty)")
            return
        }
        #expect(write(b, "y", 1) == 1)
        let one = try read(a)
        guard case .processed(1) = one else {
            Issue.record("expected one byte, got \(one)")
            return
        }
        #expect(buffer == [UInt8(ascii: "y")])
        #expect(throws: SystemError("read", EBADF)) { try read(-1) }
        #expect(throws: SystemError("write", EAGAIN)) {
            try syscallValue("write") { () -> Int in
                errno = EAGAIN
                return -1
            }
        }
        #expect(SystemError("read", ECONNRESET).description == "read failed: \(errnoDescription(ECONNRESET))")
    }

    @Test("EINTR is retried, never returned")
    func interruptRetried() throws {
        var calls = 0
        let result = try syscallValue("test") { () -> Int32 in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 5
        }
        #expect(result == 5)
        #expect(calls == 3)
    }
}
