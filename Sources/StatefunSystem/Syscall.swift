// The one syscall wrapper and errno helper of the server and statefun-local:
// every system call goes through `syscall`, which turns errno into a result.
// Inlinable: the server's reads and writes go through it on every request.
public import Glibc

/// What a system call on a non-blocking descriptor did: its result, or nothing
/// because it would have blocked (`EAGAIN`).
@usableFromInline
package enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// A system call that failed: which call, and its `errno`.
@usableFromInline
package struct SystemError: Error, CustomStringConvertible, Equatable {
    @usableFromInline package let call: StaticString
    @usableFromInline package let code: Int32

    @inlinable
    package init(_ call: StaticString, _ code: Int32) {
        self.call = call
        self.code = code
    }

    @usableFromInline package var description: String { "\(call) failed: \(errnoDescription(code))" }

    /// An `accept(2)` whose connection was gone before it was taken (`ECONNABORTED`, `EPROTO`).
    package var isAbortedConnection: Bool { code == ECONNABORTED || code == EPROTO }

    @usableFromInline package static func == (a: SystemError, b: SystemError) -> Bool {
        a.code == b.code && a.call.description == b.call.description
    }
}

/// `errno` as text: `Connection reset by peer (errno 104)`. The one errno helper.
package func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

/// Runs a system call that returns -1 and sets `errno` on failure, turning
/// `errno` into a result: `EINTR` is retried (unless `retryingInterrupts` is
/// false: `close` must not be repeated), `EAGAIN` is ``IOResult/wouldBlock``,
/// any other error is thrown.
///
/// `errno` is read right after the call, before anything else can run.
@inlinable @inline(__always)
package func syscall<T: FixedWidthInteger>(
    _ call: StaticString, retryingInterrupts: Bool = true, _ body: () -> T
) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result != -1 { return .processed(result) }
        let code = errno
        switch code {
        case EINTR where retryingInterrupts: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        default: throw SystemError(call, code)
        }
    }
}

/// ``syscall(_:retryingInterrupts:_:)`` for calls on blocking descriptors, or
/// calls that never block: `EAGAIN` is an error like any other.
@inlinable @inline(__always)
package func syscallValue<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) throws(SystemError) -> T {
    switch try syscall(call, body) {
    case .processed(let value): return value
    case .wouldBlock: throw SystemError(call, EAGAIN)
    }
}
