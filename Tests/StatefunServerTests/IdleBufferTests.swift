@testable import StatefunServer
import Testing

@Suite("Idle keep-alive connections hold no large buffers")
struct IdleBufferTests {
    func machine() -> HTTP1StateMachine {
        var configuration = HTTPServerConfiguration()
        configuration.http2.enabled = false
        return HTTP1StateMachine(limits: HTTP1Limits(configuration), budget: BodyMemoryBudget(limit: 1 << 20), now: 0)
    }

    @Test("a connection back to waiting after a 64 KiB request frees its input buffer")
    func largeInputReleased() {
        var machine = machine()
        machine.inbound = [UInt8](repeating: 1, count: 64 * 1024)
        machine.inboundStart = machine.inbound.count  // all of it consumed
        machine.releaseIdleBuffers()
        #expect(machine.inbound.capacity == 0)
        #expect(machine.inboundStart == 0)
    }

    @Test("a small buffer is kept for the next request, and unread input is never dropped")
    func smallOrPendingKept() {
        var small = machine()
        small.inbound = [UInt8](repeating: 1, count: 512)
        small.inboundStart = 512
        small.releaseIdleBuffers()
        #expect(small.inbound.count == 512)

        var pipelined = machine()
        pipelined.inbound = [UInt8](repeating: 1, count: 64 * 1024)
        pipelined.inboundStart = 100  // a pipelined request still waits in the buffer
        pipelined.releaseIdleBuffers()
        #expect(pipelined.inbound.count == 64 * 1024)
        #expect(pipelined.inboundStart == 100)
    }
}
