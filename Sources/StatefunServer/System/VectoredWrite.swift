import Glibc

extension Posix {
    /// Sends `chunks` with one system call, skipping the first `firstOffset`
    /// bytes of the first: a vectored `sendmsg` for several chunks, `send` for one.
    static func send(_ fd: Int32, chunks: ArraySlice<[UInt8]>, firstOffset: Int) throws(SystemError) -> IOResult<Int> {
        guard let first = chunks.first else { return .processed(0) }
        if chunks.count == 1 {
            return try first.withUnsafeBytes { bytes in
                Result { () throws(SystemError) in
                    try send(fd, UnsafeRawBufferPointer(rebasing: bytes[firstOffset...]))
                }
            }.get()
        }
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: chunks.count) { vector in
            gather(fd, chunks, firstOffset, chunks.startIndex, vector)
        }.get()
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
