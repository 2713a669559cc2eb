import CLinuxShims
import Glibc
import Logging

extension EventLoop {
    func handleEvent(_ connection: Connection, _ events: SelectorEvents) {
        if events.contains(.readHangup) && connection.phase == .http1 && connection.http1.state == .handling {
            clientWentAway(connection)
        }
        if events.contains(.readable) { readable(connection) }
        if !connection.isClosed && events.contains(.writable) { flush(connection) }
        if !connection.isClosed && !events.isDisjoint(with: [.error, .hangup]) {
            logger.debug("connection reset or hung up", metadata: ["peer": "\(connection.peerDescription)"])
            closeConnection(connection)
        }
    }

    /// Reads where the connection's protocol asks (``ConnectionRead``) and hands it what was read.
    func readable(_ connection: Connection) {
        if connection.phase == .lingering {
            discardLingeringInput(connection)
            return
        }
        // A few reads per wake-up, then let other connections have a turn.
        reading: for _ in 0..<4 {
            var direct = false
            let wanted: Int
            switch connection.phase {
            case .http1:
                let plan = connection.http1.nextRead(now: now)
                if connection.http1.takeMemoryWait() { registerMemoryWaiter(connection) }
                switch plan {
                case .none: break reading
                case .direct(let count):
                    direct = true
                    wanted = count
                case .buffer(let limit):
                    wanted = min(limit, readBuffer.count)
                }
            case .http2:
                // Backpressure: a client that does not read its responses is not read from either.
                guard !connection.peerClosed && connection.outboundBytes < Self.http2HighWater else { break reading }
                wanted = readBuffer.count
            case .lingering:
                break reading
            }
            let n = direct
                ? connection.http1.withDirectSpace { read(connection.fd, $0.baseAddress, $0.count) }
                : read(connection.fd, readBuffer.baseAddress, wanted)
            if n > 0 {
                connection.lastActivity = now
                if direct {
                    perform(connection.http1.directRead(n, now: now, admission: dispatcher), on: connection)
                } else {
                    let bytes = UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])
                    if connection.phase == .http2, let session = connection.http2 {
                        receiveHTTP2(connection, session, bytes)
                    } else {
                        perform(connection.http1.received(bytes, now: now, admission: dispatcher), on: connection)
                    }
                }
                if connection.isClosed { return }
                if n < wanted { break }
            } else if n == 0 {
                peerClosedInput(connection)
                break
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { break }
                logger.debug("read failed", metadata: ["peer": "\(connection.peerDescription)", "error": "\(errnoDescription(e))"])
                closeConnection(connection)
                return
            }
        }
        updateInterest(connection)
    }

    /// Whether the connection is to be read (its epoll interest).
    func wantsRead(_ connection: Connection) -> Bool {
        switch connection.phase {
        case .http1: connection.http1.wantsInput
        case .lingering: true
        // Backpressure: a client that does not read its responses is not read from either.
        case .http2: !connection.peerClosed && connection.outboundBytes < Self.http2HighWater
        }
    }

    func peerClosedInput(_ connection: Connection) {
        connection.peerClosed = true
        switch connection.phase {
        case .http1:
            perform(connection.http1.peerClosedInput(), on: connection)
        case .lingering:
            closeConnection(connection)
        case .http2:
            // Streams being handled still get their responses; flush closes after them.
            // Their handlers are cancelled, as on HTTP/1.1.
            connection.http2?.clientWentAway()
            flush(connection)
        }
    }
}
