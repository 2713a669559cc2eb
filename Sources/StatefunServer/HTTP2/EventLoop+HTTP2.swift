import Logging

// The event loop as the driver of HTTP/2 sessions: switching a connection
// over (prior knowledge, or `Upgrade: h2c`) and carrying out the session's
// actions. Reading and events reach the session through ConnectionHandler.

extension EventLoop {
    /// The connection began with the HTTP/2 preface: `buffered` is what was read of it.
    func startPriorKnowledgeHTTP2(_ connection: Connection, buffered: [UInt8]) {
        guard let session = switchToHTTP2(connection, upgrade: nil) else { return }
        feedBufferedInput(connection, session, buffered)
    }

    /// Answers 101 to an `Upgrade: h2c` request and serves its response as
    /// stream 1 of the new HTTP/2 session (RFC 7540 §3.2).
    func upgradeToHTTP2(
        _ connection: Connection, _ request: HTTP1Request, settings: [UInt8], buffered: [UInt8], record: RequestRecord?
    ) {
        enqueue(connection, Array("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".utf8))
        let route = request.route
        var record = record ?? RequestRecord(
            method: request.head.method, path: request.head.path, routePath: route.path, protocolName: "HTTP/2",
            peer: "", startedAt: now)
        record.protocolName = "HTTP/2"
        record.peer = connection.peerDescription
        let headRequest = request.isHead
        guard let session = switchToHTTP2(connection, upgrade: (settings, headRequest)) else { return }
        session.startUpgradedRequest(record, route: route, request: request.serverRequest(peer: connection.peerDescription))
        feedBufferedInput(connection, session, buffered)
    }

    func switchToHTTP2(
        _ connection: Connection, upgrade: (settings: [UInt8], headRequest: Bool)?
    ) -> HTTP2Session? {
        let session: HTTP2Session
        do {
            session = try HTTP2Session(
                context: context, owner: http2Dispatch, connection: connection.id, peer: connection.peerDescription,
                now: now, upgrade: upgrade)
        } catch {
            logger.error("cannot start HTTP/2 on a connection", metadata: ["peer": "\(connection.peerDescription)", "error": "\(error)"])
            closeConnection(connection)
            return nil
        }
        connection.http2 = session
        connection.phase = .http2
        if draining { session.beginDrain(now: now) }
        return session
    }

    /// Hands input read before the switch (the preface, frames) to the session.
    func feedBufferedInput(_ connection: Connection, _ session: HTTP2Session, _ pending: [UInt8]) {
        let action = session.received(pending.span.bytes, now: now, admission: dispatcher)
        perform(action, on: connection)
    }

    /// Carries out what the connection's HTTP/2 session asked for.
    func perform(_ action: HTTP2Action, on connection: Connection) {
        guard let session = connection.http2 else { return }
        switch action {
        case .none:
            break
        case .write:
            flush(connection)
        case .answerReady:
            // Answers go out every ``jobsPerFlush`` handlers (a client's streams arrive together).
            while session.answerReadyRequests(limit: Self.jobsPerFlush) {
                flush(connection)
                if connection.isClosed {
                    session.dropReadyRequests()
                    return
                }
            }
            flush(connection)
        case .fail:
            failHTTP2(connection)
        }
    }

    /// nghttp2 gave up on the session: write what it queued (a GOAWAY) if the socket takes it, then close.
    func failHTTP2(_ connection: Connection) {
        if let bytes = connection.http2?.produce(limit: 64 * 1024) { enqueue(connection, bytes) }
        _ = writeOutbound(connection)
        closeConnection(connection)
    }
}
