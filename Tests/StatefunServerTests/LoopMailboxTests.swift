@testable import StatefunServer
import Testing

@Suite("A loop's mailbox")
struct LoopMailboxTests {
    @Test("messages posted from other threads are drained once, all of them; none after close")
    func postDrainClose() async throws {
        let wake = try Posix.makeEventFD(nonBlocking: true)
        let mailbox = LoopMailbox(wakeFD: wake)
        #expect(mailbox.drain().isEmpty)
        await withTaskGroup(of: Bool.self) { group in
            for i in 0..<4 {
                group.addTask { mailbox.post(.shutdown(deadline: UInt64(i))) }
            }
            for await posted in group { #expect(posted) }
        }
        #expect(Posix.readEventFD(wake) >= 1)  // the loop was woken
        let drained = mailbox.drain()
        #expect(drained.count == 4)
        let deadlines = drained.compactMap { message -> UInt64? in
            if case .shutdown(let deadline) = message { deadline } else { nil }
        }
        #expect(Set(deadlines) == [0, 1, 2, 3])
        #expect(mailbox.drain().isEmpty)
        #expect(mailbox.post(.memoryReleased))
        #expect(mailbox.drain().count == 1)
        #expect(mailbox.post(.memoryReleased))
        #expect(mailbox.close().count == 1)
        #expect(!mailbox.post(.memoryReleased))
        #expect(mailbox.drain().isEmpty)
    }
}
