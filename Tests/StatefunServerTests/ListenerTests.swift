import Glibc
@testable import StatefunServer
import Testing

/// A listening TCP socket on 127.0.0.1 (any port) and its address.
private func listeningSocket() throws -> (fd: Int32, address: SocketAddress) {
    var address = try SocketAddress.resolve(host: "127.0.0.1", port: 0)
    let fd = try makeBoundSocket(address, reusePort: false, listenBacklog: 16)
    address.port = try #require(boundAddress(fd)).port
    return (fd, address)
}

private func connect(to address: SocketAddress) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    try #require(address.withSockAddr { Glibc.connect(fd, $0, $1) } == 0)
    return fd
}

@Suite("A loop's listener: accepting in batches, pausing, closing")
struct ListenerTests {
    @Test("accepts at most its batch, then the rest, then reports none waiting")
    func acceptBatches() throws {
        let (fd, address) = try listeningSocket()
        let listener = Listener(fd: fd, unixSocketPath: nil)
        defer { listener.closeUnregistered() }
        let clients = try (0..<3).map { _ in try connect(to: address) }
        defer { for client in clients { close(client) } }
        var accepted: [Int32] = []
        defer { for socket in accepted { close(socket) } }
        // The handshakes complete in the kernel; connect returned, so all three are queued.
        #expect(listener.accept(limit: 2) { socket, _ in accepted.append(socket) } == nil)
        #expect(accepted.count == 2)
        #expect(listener.accept(limit: 2) { socket, _ in accepted.append(socket) } == nil)
        #expect(accepted.count == 3)
        #expect(listener.accept(limit: 2) { socket, _ in accepted.append(socket) } == nil)
        #expect(accepted.count == 3)
        for socket in accepted {
            // Accepted sockets are non-blocking, with TCP_NODELAY.
            #expect(fcntl(socket, F_GETFL) & O_NONBLOCK != 0)
            var noDelay: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, &length) == 0)
            #expect(noDelay != 0)
        }
    }

    @Test("paused, a waiting connection wakes no one; resumed, it does; closed, the socket is gone")
    func pauseResumeClose() throws {
        let (fd, address) = try listeningSocket()
        let selector = try Selector()
        let listener = Listener(fd: fd, unixSocketPath: nil)
        try listener.register(with: selector, token: 3)
        let client = try connect(to: address)
        defer { close(client) }
        #expect(try selector.wait(timeoutMilliseconds: 1000) == 1)
        #expect(selector[0].token == 3)
        listener.pause(selector)
        #expect(listener.isPaused)
        #expect(try selector.wait(timeoutMilliseconds: 0) == 0)
        listener.resume(selector)
        #expect(!listener.isPaused)
        #expect(try selector.wait(timeoutMilliseconds: 1000) == 1)
        let socket = fileIdentity(fd)
        listener.close(selector)
        #expect(!listener.isOpen)
        // The descriptor is closed: its number is free, or already another test's file
        // (tests run in parallel in one process), not this socket.
        #expect(fileIdentity(fd) != socket)
        #expect(try selector.wait(timeoutMilliseconds: 0) == 0)
        var none = 0
        #expect(listener.accept(limit: 4) { _, _ in none += 1 } == nil)
        #expect(none == 0)
    }

    @Test("a listener whose socket fails reports the error to pause on, without spinning")
    func acceptError() throws {
        let (fd, _) = try listeningSocket()
        let listener = Listener(fd: fd, unixSocketPath: nil)
        defer { listener.closeUnregistered() }
        shutdown(fd, Int32(SHUT_RDWR))  // accept now fails with EINVAL
        var calls = 0
        let failure = listener.accept(limit: 64) { _, _ in calls += 1 }
        #expect(failure?.code == EINVAL)
        #expect(calls == 0)
    }
}

/// The device and inode of the file `fd` refers to, or `nil` when `fd` is not open.
private func fileIdentity(_ fd: Int32) -> [UInt64]? {
    var status = stat()
    guard fstat(fd, &status) == 0 else { return nil }
    return [UInt64(status.st_dev), UInt64(status.st_ino)]
}
