import Logging

/// Drives an HTTP/2 connection for its event loop: feeds the connection's
/// ``HTTP2Session`` what the loop reads and the events it sees, pulls its
/// frames as the socket takes them, and carries out its actions. Requests go
/// from the session to ``HTTP2Dispatch``, not through here.
final class HTTP2Driver: InputConsumer {
    let session: HTTP2Session
    /// What the loop's HTTP connections share.
    let connections: HTTPConnections
    /// ``HTTPConnections/dispatcher``, held here too (see ``HTTP1Driver/dispatcher``).
    let dispatcher: RequestDispatcher

    init(_ session: HTTP2Session, connections: HTTPConnections) {
        self.session = session
        self.connections = connections
        self.dispatcher = connections.dispatcher
    }

    var logger: Logger { connections.context.logger }

    // MARK: - Switching over

    /// The connection began with the HTTP/2 preface: `buffered` is what was read of it.
    static func startPriorKnowledge(
        on connection: Connection, loop: EventLoop, from http1: HTTP1Driver, buffered: [UInt8]
    ) {
        guard let driver = switchOver(connection, loop: loop, from: http1, upgrade: nil) else { return }
        driver.feed(buffered, connection, loop: loop)
    }

    /// Answers 101 to an `Upgrade: h2c` request and serves its response as
    /// stream 1 of the new HTTP/2 session (RFC 7540 §3.2).
    static func upgrade(
        _ connection: Connection, loop: EventLoop, from http1: HTTP1Driver, _ request: HTTP1Request,
        settings: [UInt8], buffered: [UInt8], record: RequestRecord?
    ) {
        loop.enqueue(connection, Array("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".utf8))
        let route = request.route
        var record = record ?? RequestRecord(
            method: request.head.method, path: request.head.path, routePath: route.path, protocolName: "HTTP/2",
            peer: "", startedAt: loop.now)
        record.protocolName = "HTTP/2"
        record.peer = connection.peerDescription
        let headRequest = request.isHead
        guard let driver = switchOver(connection, loop: loop, from: http1, upgrade: (settings, headRequest)) else {
            return
        }
        driver.session.startUpgradedRequest(
            record, route: route, request: request.serverRequest(peer: connection.peerDescription))
        driver.feed(buffered, connection, loop: loop)
    }

    /// Makes the connection's HTTP/2 session and driver, to which `http1` hands all that follows.
    private static func switchOver(
        _ connection: Connection, loop: EventLoop, from http1: HTTP1Driver,
        upgrade: (settings: [UInt8], headRequest: Bool)?
    ) -> HTTP2Driver? {
        let connections = http1.connections
        let session: HTTP2Session
        do {
            session = try HTTP2Session(
                context: connections.context, owner: connections.http2Dispatch(replyTo: loop), connection: connection.id,
                peer: connection.peerDescription, now: loop.now, upgrade: upgrade)
        } catch {
            connections.context.logger.error(
                "cannot start HTTP/2 on a connection", metadata: ["peer": "\(connection.peerDescription)", "error": "\(error)"])
            loop.closeConnection(connection)
            return nil
        }
        let driver = HTTP2Driver(session, connections: connections)
        http1.upgraded = driver
        if loop.draining { session.beginDrain(now: loop.now) }
        return driver
    }

    /// Hands input read before the switch (the preface, frames) to the session.
    func feed(_ pending: [UInt8], _ connection: Connection, loop: EventLoop) {
        perform(received(pending.span.bytes, now: loop.now), on: connection, loop: loop)
    }

    // MARK: - Input

    func readable(_ connection: Connection, loop: EventLoop) {
        loop.readInput(connection, self)
    }

    @inline(__always)
    func nextRead(_ connection: Connection, loop: EventLoop) -> ConnectionRead {
        let plan = session.nextRead(now: loop.now)
        if session.takeMemoryWait() { loop.registerMemoryWaiter(connection) }
        return plan
    }

    func withDirectSpace<R>(_ read: (inout MutableRawSpan) -> R) -> R {
        session.withDirectSpace(read)
    }

    func directRead(_ count: Int, now: UInt64) -> HTTP2Action {
        session.directRead(count, now: now, admission: dispatcher)
    }

    @inline(__always)
    func received(_ bytes: RawSpan, now: UInt64) -> HTTP2Action {
        session.received(bytes, now: now, admission: dispatcher)
    }

    func inputEnded(_ connection: Connection, loop: EventLoop) {
        perform(session.peerClosedInput(), on: connection, loop: loop)
    }

    /// Read until the client closes its side (the loop stops reading while the output is backed up).
    var inputInterest: SelectorEvents { session.wantsInput ? .readable : [] }

    // MARK: - Actions and output

    /// Carries out what the session asked for.
    func perform(_ action: consuming HTTP2Action, on connection: Connection, loop: EventLoop) {
        switch action {
        case .none:
            break
        case .write:
            flush(connection, loop: loop)
        case .answerReady:
            // Answers go out every ``EventLoop/jobsPerFlush`` handlers (a client's streams arrive together).
            while session.answerReadyRequests(limit: EventLoop.jobsPerFlush) {
                flush(connection, loop: loop)
                if connection.isClosed {
                    session.dropReadyRequests()
                    return
                }
            }
            flush(connection, loop: loop)
        case .fail:
            fail(connection, loop: loop)
        }
    }

    /// Writes queued output, pulling frames from nghttp2 as it drains, until
    /// the socket is full or nothing is left; then lingers if the session is over.
    func flush(_ connection: Connection, loop: EventLoop) {
        guard !connection.isClosed, !connection.isLingering else { return }
        session.now = loop.now
        session.replenishWindow()
        if session.takeMemoryWait() { loop.registerMemoryWaiter(connection) }
        while true {
            let room = EventLoop.outboundHighWater - connection.outbound.byteCount
            if room > 0 {
                guard let more = session.produce(limit: room) else {
                    loop.closeConnection(connection)
                    return
                }
                loop.enqueue(connection, more)
            }
            if connection.outbound.isEmpty { break }
            switch loop.writeOutbound(connection) {
            case .failed: return
            case .blocked:
                loop.updateInterest(connection)
                return
            case .drained: continue
            }
        }
        if session.isDone {
            loop.startLingeringClose(connection)
        } else {
            loop.updateInterest(connection)
        }
    }

    /// nghttp2 gave up on the session: write what it queued (a GOAWAY) if the socket takes it, then close.
    func fail(_ connection: Connection, loop: EventLoop) {
        if let bytes = session.produce(limit: 64 * 1024) { loop.enqueue(connection, bytes) }
        _ = loop.writeOutbound(connection)
        loop.closeConnection(connection)
    }

    // MARK: - Events

    /// HTTP/2 does not watch for the client's FIN while it is not read: its input is read throughout.
    func readHangup(_ connection: Connection, loop: EventLoop) {}

    /// A client that stopped reading is closed; else the session's idle and stream timeouts.
    func tick(_ connection: Connection, loop: EventLoop, underPressure: Bool) {
        if !connection.outbound.isEmpty && loop.now - connection.lastWriteProgress > connections.context.idleTimeout {
            logger.notice(
                "client stopped reading the response; closing", metadata: ["peer": "\(connection.peerDescription)"])
            loop.closeConnection(connection)
        } else {
            perform(session.tick(now: loop.now, underPressure: underPressure), on: connection, loop: loop)
        }
    }

    func beginDrain(_ connection: Connection, loop: EventLoop) {
        session.beginDrain(now: loop.now)
        flush(connection, loop: loop)
    }

    /// The window widens if it can (before the write), or the session waits again.
    func memoryReleased(_ connection: Connection, loop: EventLoop) {
        perform(session.memoryReleased(now: loop.now, admission: dispatcher), on: connection, loop: loop)
    }

    /// The answers of one round on one connection go out in one write: flushed after the last of them, not each.
    func handlerFinished(_ connection: Connection, loop: EventLoop, exchange: Int32, _ response: ServerResponse) {
        session.now = loop.now
        session.handlerFinished(exchange, response)
        loop.flushAfterMessages(connection)
    }

    func connectionClosed(_ connection: Connection) {
        session.connectionClosed()
    }
}
