import Logging

// The event loop as the driver of HTTP/1.1 connections (HTTP1StateMachine):
// it carries out the machine's actions, hands complete requests to the
// dispatcher and writes their answers.

extension EventLoop {
    /// A new connection's HTTP/1.1 side (it may turn out to speak HTTP/2).
    func newHTTP1(now: UInt64) -> HTTP1StateMachine {
        var machine = HTTP1StateMachine(limits: http1Limits, budget: context.bodyMemory, now: now)
        if draining { machine.beginDrain() }
        return machine
    }

    /// The limits of HTTP/1.1 connections.
    var http1Limits: HTTP1Limits { HTTP1Limits(configuration) }

    /// Carries out what the connection's state machine asked for.
    func perform(_ action: consuming HTTP1Action, on connection: Connection) {
        switch consume action {
        case .none:
            break
        case .dispatch:
            dispatch(on: connection)
        case .reject(let rejection):
            write(rejection, on: connection)
        case .sendContinue:
            enqueue(connection, continueResponse)
            flush(connection)
        case .startHTTP2(let buffered):
            startPriorKnowledgeHTTP2(connection, buffered: buffered)
        case .upgradeToHTTP2(let request, let settings, let buffered, let record):
            upgradeToHTTP2(connection, request, settings: settings, buffered: buffered, record: record)
        case .rejectPreface:
            logger.notice(
                "invalid HTTP/2 connection preface; sent GOAWAY(PROTOCOL_ERROR)",
                metadata: ["peer": "\(connection.peerDescription)"])
            connection.responseInFlight = true
            enqueue(connection, invalidPrefaceGoaway)
            flush(connection)
        case .close(let reason):
            switch reason {
            case .idle:
                logger.debug("closing idle connection", metadata: ["peer": "\(connection.peerDescription)"])
            case .peerClosed:
                break
            case .peerClosedMidHead:
                logger.debug("client closed the connection mid-request", metadata: ["peer": "\(connection.peerDescription)"])
            case .peerClosedMidBody:
                logger.notice(
                    "client closed the connection before sending the whole body",
                    metadata: ["peer": "\(connection.peerDescription)"])
            }
            closeConnection(connection)
        case .linger:
            startLingeringClose(connection)
        }
        if connection.http1.takeMemoryWait() { registerMemoryWaiter(connection) }
    }

    /// Runs the route handler (inline, or as a Task whose response comes back through the inbox).
    func dispatch(on connection: Connection) {
        guard let (route, request) = connection.http1.takeRequest(peer: connection.peerDescription) else { return }
        connection.handlingSince = now
        if let response = dispatcher.start(
            route, request, replyTo: self, connection: connection.id, stream: 0, task: &connection.handlerTask)
        {
            deliver(response, to: connection)
            return
        }
        updateInterest(connection)
    }

    /// Writes a handler's response (``ResponseValidation``), logs the request, and goes on once it is written.
    func deliver(_ response: ServerResponse, to connection: Connection) {
        guard connection.phase == .http1, connection.http1.state == .handling else { return }
        connection.handlerTask = nil
        var problems: [ResponseProblem] = []
        let status = ResponseValidation.status(of: response, problems: &problems)
        let fields = encodedFieldsCache.encode(response.headers, problems: &problems)
        let (framing, record) = connection.http1.respond(asksClose: fields.asksClose)
        let (bytes, sendBody) = encodeResponseHead(
            response, status: status, fields: fields, framing: framing, dateLine: dateCache.currentHeadLine())
        if !problems.isEmpty { requestLog.report(problems, path: record?.path ?? "") }
        if var record {
            record.peer = connection.peerDescription
            record.responseBytes = sendBody ? response.body.count : 0
            requestLog.answered(record, response: response, status: status, rejection: nil, now: now)
        }
        connection.responseInFlight = true
        enqueue(connection, bytes)
        if sendBody { enqueue(connection, response.body) }
        flush(connection)
    }

    /// Writes an answer given without a handler. A closing one is flushed now; one
    /// that keeps the connection is written from the next round: pipelined
    /// requests answered this way one after another must not nest (flush, then
    /// the next request, then flush...).
    func write(_ rejection: HTTP1Rejection, on connection: Connection) {
        let response = rejection.response
        var problems: [ResponseProblem] = []
        let (bytes, sendBody) = encodeResponseHead(
            response, status: rejection.error.status, fields: encodeHeaderFields(response.headers, problems: &problems),
            framing: rejection.framing, dateLine: dateCache.currentHeadLine())
        var record = rejection.record
        record.peer = connection.peerDescription
        record.responseBytes = sendBody ? response.body.count : 0
        requestLog.answered(record, response: response, status: rejection.error.status, rejection: rejection.error, now: now)
        connection.responseInFlight = true
        enqueue(connection, bytes)
        if sendBody { enqueue(connection, response.body) }
        if rejection.framing.close {
            flush(connection)
        } else {
            updateInterest(connection)
        }
    }

    /// The response is written (``flush(_:)``): the connection ends, or reads its next request.
    func responseCompleted(_ connection: Connection) {
        connection.responseInFlight = false
        perform(connection.http1.responseWritten(now: now, admission: dispatcher), on: connection)
        if !connection.isClosed { updateInterest(connection) }
    }
}

/// The interim response that asks for a body (`Expect: 100-continue`).
private let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
