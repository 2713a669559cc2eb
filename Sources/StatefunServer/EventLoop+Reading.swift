import CLinuxShims
import Glibc
import Logging

extension EventLoop {
    func handleEvent(_ connection: Connection, _ events: SelectorEvents) {
        if events.contains(.readHangup) && connection.phase == .handling { clientWentAway(connection) }
        if events.contains(.readable) { readable(connection) }
        if !connection.isClosed && events.contains(.writable) { flush(connection) }
        if !connection.isClosed && !events.isDisjoint(with: [.error, .hangup]) {
            logger.debug("connection reset or hung up", metadata: ["peer": "\(connection.peerDescription)"])
            closeConnection(connection)
        }
    }

    func readable(_ connection: Connection) {
        if connection.phase == .lingering {
            discardLingeringInput(connection)
            return
        }
        // A few reads per wake-up, then let other connections have a turn.
        for _ in 0..<4 {
            guard wantsRead(connection) else { break }
            connection.compactInbound()
            // A body allocated whole is read into directly, never past its end
            // (what follows belongs to the next request): no copy of it is made.
            let direct = connection.phase == .body && connection.bodyFilled != nil && connection.bodyRemaining > 0
                && !connection.hasBufferedInput
            if direct {
                if admitBody(connection, connection.bodyRemaining) == 0 { break }
                connection.allocateWholeBody()
            }
            // After a large body, the next head is read on its own (with the first
            // bytes of its body): the rest of that body is then read into it directly,
            // rather than copied from the read buffer.
            let wanted = direct ? connection.bodyRemaining
                : connection.phase == .head && connection.sentLargeBody && !connection.hasBufferedInput
                ? Self.headReadAfterLargeBody : readBuffer.count
            let n = direct
                ? connection.body.withUnsafeMutableBytes { read(connection.fd, $0.baseAddress! + connection.bodyFilled!, wanted) }
                : read(connection.fd, readBuffer.baseAddress, wanted)
            if n > 0 {
                connection.lastActivity = now
                if direct {
                    connection.bodyFilled! += n
                    connection.bodyRemaining -= n
                    process(connection)
                } else {
                    ingest(connection, UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
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

    func wantsRead(_ connection: Connection) -> Bool {
        switch connection.phase {
        case .head, .body: !connection.peerClosed && !connection.memoryBlocked
        case .lingering: true
        case .handling, .responding: false
        // Backpressure: a client that does not read its responses is not read from either.
        case .http2: !connection.peerClosed && connection.outboundBytes < Self.http2HighWater
        }
    }

    func ingest(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        if let session = connection.http2, connection.phase == .http2 {
            receiveHTTP2(connection, session, bytes)
            return
        }
        var bytes = bytes
        // Fast path: a read that holds a whole request head is parsed where it
        // was read. The bytes of a fixed-length body that came with it go
        // straight into the body; nothing is buffered.
        if connection.phase == .head && !connection.hasBufferedInput && !connection.mayBePreface,
           case .head(let head, _, let end) = headStep(connection, bytes.assumingMemoryBound(to: UInt8.self), start: 0, resume: 0)
        {
            connection.headStartedAt = nil
            guard head.hasBody && !head.chunked && !head.expectContinue else {
                // Buffered with the head already consumed, then processed as usual.
                let base = connection.inbound.count
                connection.inbound.append(contentsOf: bytes)
                connection.inboundStart = base + end
                connection.scanResume = base + end
                beginRequest(connection, head)
                process(connection)
                return
            }
            beginRequest(connection, head)
            // Rejected (answered, and closing): the rest of the input is never read.
            guard connection.phase == .body else { return }
            bytes = UnsafeRawBufferPointer(rebasing: bytes[end...])
        }
        // Body bytes of a fixed-length body go straight into the body.
        if connection.phase == .body && connection.chunkedDecoder == nil && !connection.hasBufferedInput {
            let n = admitBody(connection, min(bytes.count, connection.bodyRemaining))
            appendBody(connection, UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
            bytes = UnsafeRawBufferPointer(rebasing: bytes[n...])
        }
        if !bytes.isEmpty { connection.inbound.append(contentsOf: bytes) }
        process(connection)
    }

    func appendBody(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if connection.discardingBody {
            connection.bodyRemaining -= bytes.count
            return
        }
        if let filled = connection.bodyFilled {
            if filled == 0 && bytes.count == connection.bodyRemaining {
                // The whole body in one piece (a small request): an array of exactly its bytes.
                connection.body = Array(bytes.assumingMemoryBound(to: UInt8.self))
                connection.bodyFilled = bytes.count
                connection.bodyRemaining = 0
                return
            }
            connection.allocateWholeBody()
            connection.body.withUnsafeMutableBytes { body in
                (body.baseAddress! + filled).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
            connection.bodyFilled = filled + bytes.count
            connection.bodyRemaining -= bytes.count
            return
        }
        let needed = connection.body.count + bytes.count
        if needed > connection.body.capacity {
            // Grow towards the declared length, without trusting it up front.
            let total = connection.body.count + connection.bodyRemaining
            connection.body.reserveCapacity(min(total, max(needed, connection.body.capacity * 4)))
        }
        connection.body.append(contentsOf: bytes)
        connection.bodyRemaining -= bytes.count
    }

    func peerClosedInput(_ connection: Connection) {
        connection.peerClosed = true
        switch connection.phase {
        case .head:
            if connection.hasBufferedInput {
                logger.debug("client closed the connection mid-request", metadata: ["peer": "\(connection.peerDescription)"])
            }
            closeConnection(connection)
        case .body:
            logger.notice(
                "client closed the connection before sending the whole body",
                metadata: ["peer": "\(connection.peerDescription)"])
            closeConnection(connection)
        case .handling, .responding:
            // A half-closed client still gets its response.
            connection.closeAfterResponse = true
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
