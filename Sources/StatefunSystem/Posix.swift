// The socket and descriptor calls both the server and statefun-local make,
// each through `syscall`. The server adds its own (System/Posix.swift).
public import Glibc

/// System calls, each through ``syscall(_:retryingInterrupts:_:)``.
@usableFromInline
package enum Posix {
    /// `read(2)` into `buffer`; `.processed(0)` is the end of input.
    @inlinable @inline(__always)
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// `send(2)` with `MSG_NOSIGNAL`: a peer that went away is `EPIPE`, never `SIGPIPE`.
    @inlinable @inline(__always)
    package static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// `close(2)`. Never retried: after `EINTR` the descriptor is gone on Linux,
    /// and its number may already belong to another thread's new descriptor.
    @inlinable
    package static func close(_ fd: Int32) {
        _ = try? syscall("close", retryingInterrupts: false) { Glibc.close(fd) }
    }

    /// Makes `fd` non-blocking (`O_NONBLOCK`).
    @inlinable
    package static func setNonBlocking(_ fd: Int32) {
        _ = try? syscall("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, O_NONBLOCK) }
    }

    /// Sets or clears `FD_CLOEXEC`.
    package static func setCloseOnExec(_ fd: Int32, _ on: Bool) {
        _ = try? syscall("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0) }
    }

    /// `setsockopt` of an `int` option; whether it was set.
    @inlinable @discardableResult
    package static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var value = value
        let result = try? syscall("setsockopt") {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
        return result != nil
    }

    /// `TCP_NODELAY`: a response goes out as soon as it is written.
    @inlinable
    package static func setNoDelay(_ fd: Int32) {
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }
}
