@testable import StatefulFunctions
import CProtobufC
import Testing

@Suite("Arena chunk pool")
struct ChunkPoolTests {
    @Test("chunks are reused by size, and the pool keeps at most 16 MiB")
    func reuseAndBudget() {
        let pool = ChunkPool()
        let small = pool.take(atLeast: 3000)
        #expect(small.size == 4096)
        pool.give(small)
        #expect(pool.keptBytes == 4096)
        let reused = pool.take(atLeast: 4000)
        #expect(reused.pointer == small.pointer)
        #expect(pool.keptBytes == 0)
        pool.give(reused)

        let big = (0..<3).map { _ in pool.take(atLeast: 8 << 20) }
        for chunk in big { pool.give(chunk) }
        // 4 KiB + one 8 MiB chunk fit the 16 MiB budget; the other two were freed.
        #expect(pool.keptBytes == 4096 + (8 << 20))
        #expect(pool.keptBytes <= 16 << 20)
    }
}

@Suite("Arena shared bytes")
struct ArenaSharedBytesTests {
    @Test("large fields come back as the arrays protobuf-c wrote, in any order; small ones as copies")
    func sharedInAnyOrder() {
        let arena = Arena(capacity: 4096)
        let sizes = [Arena.sharedBytesThreshold, 20_000, Arena.sharedBytesThreshold, 70_000]
        let fields = sizes.enumerated().map { index, size in
            let pointer = arena.allocateForProtobufC(size).bindMemory(to: UInt8.self, capacity: size)
            for i in 0..<size { pointer[i] = UInt8(truncatingIfNeeded: i &+ index) }
            return ProtobufCBinaryData(len: size, data: pointer)
        }
        // In order, out of order, and again: each is found, and is the very storage written.
        for index in [0, 1, 2, 3, 2, 0, 3, 1, 1, 0] {
            let bytes = arena.bytes(fields[index])
            #expect(bytes.withUnsafeBufferPointer { $0.baseAddress } == UnsafePointer(fields[index].data))
            #expect(bytes.count == sizes[index])
            #expect(bytes.first == UInt8(index) && bytes.last == UInt8(truncatingIfNeeded: sizes[index] - 1 + index))
        }
        // A field not from this arena, however large, is copied.
        let foreign = [UInt8](repeating: 7, count: 30_000)
        foreign.withUnsafeBufferPointer { buffer in
            let copy = arena.bytes(ProtobufCBinaryData(len: buffer.count, data: UnsafeMutablePointer(mutating: buffer.baseAddress)))
            #expect(copy == foreign)
            #expect(copy.withUnsafeBufferPointer { $0.baseAddress } != buffer.baseAddress)
        }
    }
}
