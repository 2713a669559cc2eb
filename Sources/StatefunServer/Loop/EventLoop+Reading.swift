import Logging

extension EventLoop {
    /// What the selector reported for a connection, handed to its driver.
    func handleEvent(_ connection: Connection, _ events: SelectorEvents) {
        if events.contains(.readHangup) && !connection.isLingering {
            connection.driver.readHangup(connection, loop: self)
        }
        if events.contains(.readable) { readable(connection) }
        if !connection.isClosed && events.contains(.writable) { flush(connection) }
        if !connection.isClosed && !events.isDisjoint(with: [.error, .hangup]) {
            logger.debug("connection reset or hung up", metadata: ["peer": "\(connection.peerDescription)"])
            closeConnection(connection)
        }
    }

    /// The connection's driver reads (``readInput(_:_:)``); a lingering connection's input is discarded.
    func readable(_ connection: Connection) {
        if connection.isLingering {
            discardLingeringInput(connection)
        } else {
            connection.driver.readable(connection, loop: self)
        }
    }

    /// Reads where the connection's driver asks (``ConnectionRead``) and hands
    /// it what was read, until it wants no more, the socket is empty, or a few
    /// reads were made (then other connections have a turn). Generic: each
    /// driver's reads are specialized for it.
    @inline(__always)
    func readInput<D: InputConsumer>(_ connection: Connection, _ driver: D) {
        reading: for _ in 0..<4 {
            // Backpressure: a client that does not read its responses is not read from either.
            guard connection.outboundBytes < Self.outboundHighWater else { break }
            let direct: Bool
            let wanted: Int
            switch driver.nextRead(connection, loop: self) {
            case .none: break reading
            case .direct(let count):
                direct = true
                wanted = count
            case .buffer(let limit):
                direct = false
                wanted = min(limit, readBuffer.capacity)
            }
            let result = direct
                ? driver.withDirectSpace { Posix.read(connection.fd, into: &$0) }
                : Result { () throws(SystemError) in try readBuffer.read(from: connection.fd, limit: wanted) }
            let n: Int
            switch result {
            case .success(.processed(let count)) where count > 0:
                n = count
            case .success(.processed):
                connection.peerClosed = true
                driver.inputEnded(connection, loop: self)
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
                driver.perform(driver.directRead(n, now: now), on: connection, loop: self)
            } else {
                driver.perform(readBuffer.withBytes(n) { driver.received($0, now: now) }, on: connection, loop: self)
            }
            if connection.isClosed { return }
            // The driver is done with the connection: the loop discards its input from now on.
            if connection.isLingering { break }
            if n < wanted { break }
        }
        updateInterest(connection)
    }

    /// Discards a lingering connection's input until the client closes (``startLingeringClose(_:)``).
    func discardLingeringInput(_ connection: Connection) {
        for _ in 0..<4 {
            switch try? readBuffer.read(from: connection.fd, limit: readBuffer.capacity) {
            case .processed(let n) where n > 0:
                if n < readBuffer.capacity { return }
            case .wouldBlock:
                return
            default:  // the end of input, or an error
                closeConnection(connection)
                return
            }
        }
    }
}
