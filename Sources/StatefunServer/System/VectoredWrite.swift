import Glibc

extension Posix {
    /// Sends `chunks` with one system call, skipping the first `firstOffset`
    /// bytes of the first: `send` for one chunk, a vectored `sendmsg` for more.
    @inline(__always)
    static func send(_ fd: Int32, chunks: ArraySlice<[UInt8]>, firstOffset: Int) throws(SystemError) -> IOResult<Int> {
        let start = chunks.startIndex
        switch chunks.count {
        case 0:
            return .processed(0)
        case 1:
            var outcome = Result<IOResult<Int>, SystemError>.success(.wouldBlock)
            chunks[start].withUnsafeBytes { bytes in
                outcome = Result { () throws(SystemError) in
                    try send(fd, UnsafeRawBufferPointer(rebasing: bytes[firstOffset...]))
                }
            }
            return try outcome.get()
        case 2:
            // A response's head and body: no recursion, no allocation.
            var outcome = Result<IOResult<Int>, SystemError>.success(.wouldBlock)
            chunks[start].withUnsafeBytes { first in
                chunks[start + 1].withUnsafeBytes { second in
                    var vector = (
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress! + firstOffset),
                              iov_len: first.count - firstOffset),
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress!), iov_len: second.count))
                    withUnsafeMutablePointer(to: &vector) { pair in
                        pair.withMemoryRebound(to: iovec.self, capacity: 2) { base in
                            outcome = Result { () throws(SystemError) in
                                try send(fd, vector: UnsafeMutableBufferPointer(start: base, count: 2))
                            }
                        }
                    }
                }
            }
            return try outcome.get()
        default:
            return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: chunks.count) { vector in
                gather(fd, chunks, firstOffset, start, vector)
            }.get()
        }
    }

    /// Lends the chunks' bytes one closure inside the other, so that every
    /// pointer in `vector` is valid while `sendmsg` reads them.
    private static func gather(
        _ fd: Int32, _ chunks: ArraySlice<[UInt8]>, _ firstOffset: Int, _ index: Int,
        _ vector: UnsafeMutableBufferPointer<iovec>
    ) -> Result<IOResult<Int>, SystemError> {
        if index == chunks.endIndex {
            return Result { () throws(SystemError) in try send(fd, vector: vector) }
        }
        return chunks[index].withUnsafeBytes { bytes in
            let skip = index == chunks.startIndex ? firstOffset : 0
            vector[index - chunks.startIndex] = iovec(
                iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + skip), iov_len: bytes.count - skip)
            return gather(fd, chunks, firstOffset, index + 1, vector)
        }
    }
}
