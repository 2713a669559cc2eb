@testable import StatefulFunctions
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
