import Foundation
import StatefunLocks
import StatefunSystem

/// One HTTP/2 connection: what requesters and the connection's thread share.
final class HTTP2Connection: Sendable {
    struct Shared {
        var queued: [HTTP2Request] = []
        /// GOAWAY received, or the connection is over: no new requests.
        var closedToRequests = false
        var stopRequested = false
    }

    let transport: EndpointURL.Transport
    let timeout: Duration
    let shared = Lock(Shared())
    /// Wakes the connection's thread from poll(2): [read end, write end].
    let wakeRead: Int32
    let wakeWrite: Int32

    init(transport: EndpointURL.Transport, timeout: Duration, first: HTTP2Request) {
        self.transport = transport
        self.timeout = timeout
        shared.withLock { $0.queued = [first] }
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for fd in ends {
                Posix.setNonBlocking(fd)
                Posix.setCloseOnExec(fd, true)
            }
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
        Thread { [self] in HTTP2Driver(connection: self).run() }.start()
    }

    deinit {
        Posix.close(wakeRead)
        Posix.close(wakeWrite)
    }

    /// Hands a request to the connection's thread; false if the connection takes no more.
    func submit(_ request: HTTP2Request) -> Bool {
        let taken = shared.withLock { state in
            guard !state.closedToRequests else { return false }
            state.queued.append(request)
            return true
        }
        if taken { wake() }
        return taken
    }

    func stop() {
        shared.withLock {
            $0.stopRequested = true
            $0.closedToRequests = true
        }
        wake()
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}
