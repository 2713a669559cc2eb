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
        switch connection.phase {
        case .http1: readInput(connection, as: HTTP1StateMachine.self)
        case .http2: readInput(connection, as: HTTP2Session.self)
        case .lingering: discardLingeringInput(connection)
        }
    }

    /// Reads for the connection's protocol `H`, carrying out its actions, until
    /// it wants no more, the socket is empty, or a few reads were made (then
    /// other connections have a turn).
    @inline(__always)
    func readInput<H: ConnectionHandler>(_ connection: Connection, as _: H.Type) {
        let phase = connection.phase
        reading: for _ in 0..<4 {
            // Backpressure: a client that does not read its responses is not read from either.
            guard connection.outboundBytes < Self.outboundHighWater else { break }
            let (plan, waits) = H.withHandler(of: connection) { ($0.nextRead(now: now), $0.takeMemoryWait()) }
            if waits { registerMemoryWaiter(connection) }
            let direct: Bool
            let wanted: Int
            switch plan {
            case .none: break reading
            case .direct(let count):
                direct = true
                wanted = count
            case .buffer(let limit):
                direct = false
                wanted = min(limit, readBuffer.capacity)
            }
            let result = direct
                ? H.withHandler(of: connection) { $0.withDirectSpace { Posix.read(connection.fd, into: &$0) } }
                : Result { () throws(SystemError) in try readBuffer.read(from: connection.fd, limit: wanted) }
            let n: Int
            switch result {
            case .success(.processed(let count)) where count > 0:
                n = count
            case .success(.processed):
                peerClosedInput(connection)
                break reading
            case .success(.wouldBlock):
                break reading
            case .failure(let error):
                logger.debug(
                    "read failed", metadata: ["peer": "\(connection.peerDescription)", "error": "\(errnoDescription(error.code))"])
                closeConnection(connection)
                return
            }
            if direct {
                H.withHandler(of: connection) { $0.directRead(n, now: now, admission: dispatcher) }
                    .perform(on: connection, by: self)
            } else {
                readBuffer.withBytes(n) { bytes in
                    H.withHandler(of: connection) { $0.received(bytes, now: now, admission: dispatcher) }
                }.perform(on: connection, by: self)
            }
            if connection.isClosed { return }
            // The protocol changed (HTTP/1.1 to HTTP/2): the next round reads for the new one.
            if connection.phase != phase { break }
            if n < wanted { break }
        }
        updateInterest(connection)
    }

    /// Whether the connection is to be read (its epoll interest).
    func wantsRead(_ connection: Connection) -> Bool {
        switch connection.phase {
        case .http1: connection.outboundBytes < Self.outboundHighWater && connection.http1.wantsInput
        case .lingering: true
        // Backpressure: a client that does not read its responses is not read from either.
        case .http2: connection.outboundBytes < Self.outboundHighWater && (connection.http2?.wantsInput ?? false)
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
            HTTP2Session.withHandler(of: connection) { $0.peerClosedInput() }.perform(on: connection, by: self)
        }
    }
}
