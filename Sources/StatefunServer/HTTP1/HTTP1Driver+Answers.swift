// An HTTP/1.1 connection's requests and answers: a complete request goes to
// the dispatcher, its handler's response (or an answer given without one) is
// encoded and queued, and the connection goes on once it is written.

extension HTTP1Driver {
    /// Runs the route handler (inline, or as a Task whose response comes back through the loop's inbox).
    func dispatch(on connection: Connection, loop: EventLoop) {
        guard let (route, request) = machine.takeRequest(peer: connection.peerDescription) else { return }
        handlingSince = loop.now
        if let response = dispatcher.start(
            route, request, replyTo: loop, connection: connection.id, exchange: 0, task: &handlerTask)
        {
            deliver(response, to: connection, loop: loop)
            return
        }
        loop.updateInterest(connection)
    }

    /// Writes a handler's response (``ResponseValidation``), logs the request, and goes on once it is written.
    func deliver(_ response: ServerResponse, to connection: Connection, loop: EventLoop) {
        guard machine.state == .handling else { return }
        handlerTask = nil
        var problems: [ResponseProblem] = []
        let status = ResponseValidation.status(of: response, problems: &problems)
        let fields = connections.encodedFieldsCache.encode(response.headers, problems: &problems)
        let (framing, record) = machine.respond(asksClose: fields.asksClose)
        let (bytes, sendBody) = encodeResponseHead(
            response, status: status, fields: fields, framing: framing,
            dateLine: connections.dateCache.currentHeadLine())
        if !problems.isEmpty { requestLog.report(problems, path: record?.path ?? "") }
        if var record {
            record.peer = connection.peerDescription
            record.responseBytes = sendBody ? response.body.count : 0
            requestLog.answered(record, response: response, status: status, rejection: nil, now: loop.now)
        }
        responseInFlight = true
        loop.enqueue(connection, bytes)
        if sendBody { loop.enqueue(connection, response.body) }
        flush(connection, loop: loop)
    }

    /// Writes an answer given without a handler. A closing one is flushed now; one
    /// that keeps the connection is written from the next round: pipelined
    /// requests answered this way one after another must not nest (flush, then
    /// the next request, then flush...).
    func write(_ rejection: HTTP1Rejection, on connection: Connection, loop: EventLoop) {
        let response = rejection.response
        var problems: [ResponseProblem] = []
        let (bytes, sendBody) = encodeResponseHead(
            response, status: rejection.error.status, fields: encodeHeaderFields(response.headers, problems: &problems),
            framing: rejection.framing, dateLine: connections.dateCache.currentHeadLine())
        var record = rejection.record
        record.peer = connection.peerDescription
        record.responseBytes = sendBody ? response.body.count : 0
        requestLog.answered(
            record, response: response, status: rejection.error.status, rejection: rejection.error, now: loop.now)
        responseInFlight = true
        loop.enqueue(connection, bytes)
        if sendBody { loop.enqueue(connection, response.body) }
        if rejection.framing.close {
            flush(connection, loop: loop)
        } else {
            loop.updateInterest(connection)
        }
    }

    /// Writes as much queued output as the socket takes; the loop watches for
    /// writability otherwise. Once a response is all written, the connection goes on.
    func flush(_ connection: Connection, loop: EventLoop) {
        guard !connection.isClosed, !connection.isLingering else { return }
        if upgraded != nil { return upgraded!.flush(connection, loop: loop) }
        if case .failed = loop.writeOutbound(connection) { return }
        if connection.outbound.isEmpty && responseInFlight {
            responseCompleted(connection, loop: loop)
        } else {
            loop.updateInterest(connection)
        }
    }

    /// The response is written: the connection ends, or reads its next request.
    func responseCompleted(_ connection: Connection, loop: EventLoop) {
        responseInFlight = false
        perform(machine.responseWritten(now: loop.now, admission: dispatcher), on: connection, loop: loop)
        if !connection.isClosed { loop.updateInterest(connection) }
    }
}
