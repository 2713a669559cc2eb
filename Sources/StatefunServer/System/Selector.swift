import CLinuxShims
import Glibc

/// An epoll instance: descriptors registered with a token and an interest,
/// and a wait that reports which tokens are ready for what.
///
/// Level-triggered: a descriptor is reported again, wait after wait, as long
/// as it stays ready for something in its interest. Only the thread that owns
/// the selector (its event loop) calls it.
final class Selector {
    /// One readiness report of ``wait(timeoutMilliseconds:)``.
    struct Event {
        let token: UInt64
        let events: SelectorEvents
    }

    static let maxEvents = 256

    private let epollFD: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private var isClosed = false

    init() throws(SystemError) {
        epollFD = try syscallValue("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        events = .allocate(capacity: Self.maxEvents)
    }

    deinit {
        close()
        events.deallocate()
    }

    /// Closes the epoll instance (the descriptors registered are not closed).
    func close() {
        guard !isClosed else { return }
        isClosed = true
        Posix.close(epollFD)
    }

    /// Starts watching `fd` for `interest`, reported with `token`.
    func register(_ fd: Int32, token: UInt64, interest: SelectorEvents) throws(SystemError) {
        try control(EPOLL_CTL_ADD, "epoll_ctl(ADD)", fd, token, interest)
    }

    /// Changes what `fd` is watched for (not for an ``SelectorEvents/exclusive`` registration).
    func reregister(_ fd: Int32, token: UInt64, interest: SelectorEvents) throws(SystemError) {
        try control(EPOLL_CTL_MOD, "epoll_ctl(MOD)", fd, token, interest)
    }

    /// Stops watching `fd`. Closing a descriptor removes it too, unless another
    /// descriptor (a `dup`) still refers to its socket.
    func deregister(_ fd: Int32) throws(SystemError) {
        try control(EPOLL_CTL_DEL, "epoll_ctl(DEL)", fd, 0, [])
    }

    @inline(__always)
    private func control(
        _ operation: Int32, _ call: StaticString, _ fd: Int32, _ token: UInt64, _ interest: SelectorEvents
    ) throws(SystemError) {
        var event = epoll_event()
        event.events = interest.rawValue
        event.data.u64 = token
        _ = try syscallValue(call) { epoll_ctl(epollFD, operation, fd, &event) }
    }

    /// Waits up to `timeoutMilliseconds` (-1: without limit, 0: not at all) for
    /// registered descriptors to be ready; returns how many are, read with ``subscript(_:)``.
    func wait(timeoutMilliseconds: Int32) throws(SystemError) -> Int {
        let result = try syscall("epoll_wait") {
            epoll_wait(epollFD, events, Int32(Self.maxEvents), timeoutMilliseconds)
        }
        guard case .processed(let count) = result else { return 0 }
        return Int(count)
    }

    /// The `index`th event of the last ``wait(timeoutMilliseconds:)``.
    @inline(__always)
    subscript(_ index: Int) -> Event {
        let event = events[index]
        return Event(token: event.data.u64, events: SelectorEvents(rawValue: event.events))
    }
}
