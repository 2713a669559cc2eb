import CLinuxShims
import Glibc
import StatefunSystem

/// The system calls only the server makes, each through ``syscall(_:retryingInterrupts:_:)``
/// (those statefun-local makes too are in StatefunSystem's `Posix`).
extension Posix {

    /// `read(2)` into `span` (storage its owner lends for the call); `.processed(0)` is the end of input.
    @inline(__always)
    static func read(_ fd: Int32, into span: inout MutableRawSpan) -> Result<IOResult<Int>, SystemError> {
        span.withUnsafeMutableBytes { bytes in
            Result { () throws(SystemError) in try read(fd, into: bytes) }
        }
    }

    /// `read(2)` into an array's bytes (a pipe, a file); `.processed(0)` is the end of input.
    static func read(_ fd: Int32, into buffer: inout [UInt8]) throws(SystemError) -> IOResult<Int> {
        var outcome = Result<IOResult<Int>, SystemError>.success(.wouldBlock)
        buffer.withUnsafeMutableBytes { bytes in
            outcome = Result { () throws(SystemError) in try read(fd, into: bytes) }
        }
        return try outcome.get()
    }

    /// `sendmsg(2)` of several buffers at once (a vectored write), with `MSG_NOSIGNAL`.
    @inline(__always)
    static func send(_ fd: Int32, vector: UnsafeMutableBufferPointer<iovec>) throws(SystemError) -> IOResult<Int> {
        var message = msghdr()
        message.msg_iov = vector.baseAddress
        message.msg_iovlen = vector.count
        return try syscall("sendmsg") { Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
    }

    /// `write(2)` of all of `bytes` to a blocking descriptor (a pipe, a file).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            var outcome = Result<Int, SystemError>.success(0)
            bytes.withUnsafeBytes { raw in
                outcome = Result { () throws(SystemError) in
                    try syscallValue("write") { Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset) }
                }
            }
            offset += try outcome.get()
        }
    }

    /// `shutdown(fd, SHUT_WR)`: our side sends no more (a FIN), input can still be read.
    static func shutdownOutput(_ fd: Int32) {
        _ = try? syscall("shutdown") { Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// A close-on-exec duplicate of `fd` (`fcntl(F_DUPFD_CLOEXEC)`).
    static func duplicate(_ fd: Int32) throws(SystemError) -> Int32 {
        try syscallValue("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, Int32(0)) }
    }

    /// A close-on-exec eventfd counting from 0.
    static func makeEventFD(nonBlocking: Bool) throws(SystemError) -> Int32 {
        let flags = Int32(EFD_CLOEXEC) | (nonBlocking ? Int32(EFD_NONBLOCK) : 0)
        return try syscallValue("eventfd") { eventfd(0, flags) }
    }

    /// Adds 1 to an eventfd's counter: wakes whoever waits on it.
    static func signalEventFD(_ fd: Int32) {
        var one: UInt64 = 1
        _ = try? syscall("write") { Glibc.write(fd, &one, 8) }
    }

    /// Reads and resets an eventfd's counter (0 if it is non-blocking and was 0, or on error).
    @discardableResult
    static func readEventFD(_ fd: Int32) -> UInt64 {
        var value: UInt64 = 0
        _ = try? syscall("read") { Glibc.read(fd, &value, 8) }
        return value
    }

    /// A non-blocking, close-on-exec stream socket.
    static func streamSocket(_ family: Int32) throws(SystemError) -> Int32 {
        try syscallValue("socket") { cshim_stream_socket(family) }
    }

    /// Accepts a connection as a non-blocking, close-on-exec socket (`accept4(2)`).
    static func accept(_ fd: Int32) throws(SystemError) -> IOResult<(fd: Int32, peer: SocketAddress)> {
        var peer = SocketAddress()
        peer.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutableBytes(of: &peer.storage) { raw throws(SystemError) in
            try syscall("accept4") {
                cshim_accept4(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &peer.length)
            }
        }
        switch result {
        case .processed(let accepted): return .processed((accepted, peer))
        case .wouldBlock: return .wouldBlock
        }
    }

    /// The bytes received on a socket and not read yet, or nil if it cannot tell.
    static func pendingInput(_ fd: Int32) -> Int? {
        let count = cshim_pending_input(fd)
        return count < 0 ? nil : Int(count)
    }
}

/// Monotonic time in nanoseconds.
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, so many connections fit.
func raiseFileDescriptorLimit() {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(resource, &limit)
}
