import StatefunLocks

/// Arena chunks kept for reuse: requests come one after another with bodies of
/// similar size, and a fresh large chunk each time would cost the page faults
/// of memory the allocator maps and unmaps. Sizes are powers of two so that
/// chunks fit again.
final class ChunkPool: Sendable {
    static let shared = ChunkPool()

    /// The most chunks kept, the largest chunk kept, and the most bytes kept in all:
    /// a burst of large requests must not leave its memory held for good.
    private static let maxKept = 32
    private static let maxKeptSize = 8 << 20
    private static let maxKeptBytes = 16 << 20

    private struct Chunk: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        let size: Int
    }

    private struct Kept {
        var chunks: [Chunk] = []
        var bytes = 0
    }

    private let kept = Lock(Kept())

    deinit {
        kept.withLock { kept in
            for chunk in kept.chunks { chunk.pointer.deallocate() }
            kept = Kept()
        }
    }

    /// The bytes held for reuse.
    var keptBytes: Int { kept.withLock { $0.bytes } }

    func take(atLeast size: Int) -> (pointer: UnsafeMutableRawPointer, size: Int) {
        let size = size <= 1024 ? 1024 : 1 << (Int.bitWidth - (size - 1).leadingZeroBitCount)
        if size <= Self.maxKeptSize {
            let reused = kept.withLock { kept -> Chunk? in
                guard let index = kept.chunks.lastIndex(where: { $0.size == size }) else { return nil }
                kept.bytes -= size
                return kept.chunks.remove(at: index)
            }
            if let reused { return (reused.pointer, reused.size) }
        }
        return (.allocate(byteCount: size, alignment: 16), size)
    }

    func give(_ chunk: (pointer: UnsafeMutableRawPointer, size: Int)) {
        if chunk.size <= Self.maxKeptSize {
            let keptIt = kept.withLock { kept -> Bool in
                guard kept.chunks.count < Self.maxKept, kept.bytes + chunk.size <= Self.maxKeptBytes else { return false }
                kept.chunks.append(Chunk(pointer: chunk.pointer, size: chunk.size))
                kept.bytes += chunk.size
                return true
            }
            if keptIt { return }
        }
        chunk.pointer.deallocate()
    }
}
