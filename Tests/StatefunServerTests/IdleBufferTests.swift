@testable import StatefunServer
import Testing

@Suite("Idle keep-alive connections hold no large buffers")
struct IdleBufferTests {
    func connection() -> Connection {
        Connection(id: 99, fd: -1, peer: SocketAddress(), unixSocketPath: nil, interest: [], now: 0, mayBePreface: false)
    }

    @Test("a connection back to waiting after a 64 KiB request frees its input buffer")
    func largeInputReleased() {
        let connection = connection()
        connection.inbound = [UInt8](repeating: 1, count: 64 * 1024)
        connection.inboundStart = connection.inbound.count  // all of it consumed
        connection.releaseIdleBuffers()
        #expect(connection.inbound.capacity == 0)
        #expect(connection.inboundStart == 0)
    }

    @Test("a small buffer is kept for the next request, and unread input is never dropped")
    func smallOrPendingKept() {
        let small = connection()
        small.inbound = [UInt8](repeating: 1, count: 512)
        small.inboundStart = 512
        small.releaseIdleBuffers()
        #expect(small.inbound.count == 512)

        let pipelined = connection()
        pipelined.inbound = [UInt8](repeating: 1, count: 64 * 1024)
        pipelined.inboundStart = 100  // a pipelined request still waits in the buffer
        pipelined.releaseIdleBuffers()
        #expect(pipelined.inbound.count == 64 * 1024)
        #expect(pipelined.inboundStart == 100)
    }
}
