import Glibc

/// What a system call on a non-blocking descriptor did: its result, or nothing
/// because it would have blocked (`EAGAIN`).
enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// A system call that failed: which call, and its `errno`.
struct SystemError: Error, CustomStringConvertible, Equatable {
    let call: StaticString
    let code: Int32

    init(_ call: StaticString, _ code: Int32) {
        self.call = call
        self.code = code
    }

    var description: String { "\(call) failed: \(errnoDescription(code))" }

    /// An `accept(2)` whose connection was gone before it was taken (`ECONNABORTED`, `EPROTO`).
    var isAbortedConnection: Bool { code == ECONNABORTED || code == EPROTO }

    static func == (a: SystemError, b: SystemError) -> Bool {
        a.code == b.code && a.call.description == b.call.description
    }
}

/// `errno` as text: `Connection reset by peer (errno 104)`. The server's one errno helper.
func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

/// Runs a system call that returns -1 and sets `errno` on failure, turning
/// `errno` into a result: `EINTR` is retried (unless `retryingInterrupts` is
/// false: `close` must not be repeated), `EAGAIN` is ``IOResult/wouldBlock``,
/// any other error is thrown.
///
/// `errno` is read right after the call, before anything else can run.
@inline(__always)
func syscall<T: FixedWidthInteger>(
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
@inline(__always)
func syscallValue<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) throws(SystemError) -> T {
    switch try syscall(call, body) {
    case .processed(let value): return value
    case .wouldBlock: throw SystemError(call, EAGAIN)
    }
}
