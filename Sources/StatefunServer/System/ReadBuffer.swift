/// An event loop's read buffer: one allocation that every connection of the
/// loop reads into in turn, its bytes lent to the protocol as a `RawSpan` for
/// the length of one call.
final class ReadBuffer {
    private let storage: UnsafeMutableRawBufferPointer

    init(capacity: Int) {
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        storage.deallocate()
    }

    /// The most one read takes.
    var capacity: Int { storage.count }

    /// `read(2)` of at most `limit` bytes from `fd`; `.processed(0)` is the end of input.
    @inline(__always)
    func read(from fd: Int32, limit: Int) throws(SystemError) -> IOResult<Int> {
        try Posix.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: storage[0..<min(limit, storage.count)]))
    }

    /// Lends the first `count` bytes read.
    @inline(__always)
    func withBytes<R>(_ count: Int, _ body: (RawSpan) -> R) -> R {
        body(RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: storage[0..<min(count, storage.count)])))
    }
}
