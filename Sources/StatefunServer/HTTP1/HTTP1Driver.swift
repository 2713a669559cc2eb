import Logging

/// Drives an HTTP/1.1 connection for its event loop: feeds the connection's
/// ``HTTP1StateMachine`` what the loop reads and the events it sees, and
/// carries out the machine's actions with the loop's socket operations:
/// requests go to the ``RequestDispatcher``, answers are encoded and queued,
/// the connection lingers, closes, or switches to HTTP/2: then the
/// connection's ``HTTP2Driver`` (``upgraded``) gets all that follows.
///
/// Its properties skip dynamic exclusivity checks, as ``Connection``'s do:
/// only the loop's thread touches them.
final class HTTP1Driver: InputConsumer {
    /// The protocol: input, the request being read, keep-alive.
    @exclusivity(unchecked) var machine: HTTP1StateMachine
    /// What the loop's HTTP connections share.
    let connections: HTTPConnections
    /// ``HTTPConnections/dispatcher`` and ``HTTPConnections/requestLog``, held
    /// here too: a reference reached through another is retained around each call.
    let dispatcher: RequestDispatcher
    let requestLog: RequestLog
    /// The task running the request's handler, cancelled if the client goes
    /// away or the request's time runs out (``HTTPServerConfiguration/requestTimeout``).
    @exclusivity(unchecked) var handlerTask: Task<Void, Never>?
    /// When the handler started (monotonic ns), for the request timeout.
    @exclusivity(unchecked) var handlingSince: UInt64 = 0
    /// The client's FIN was seen while a handler ran (EPOLLRDHUP, which stays
    /// reported once seen): not watched for again.
    @exclusivity(unchecked) var closeSeen = false
    /// Set when the response being written ends the request/response cycle.
    @exclusivity(unchecked) var responseInFlight = false
    /// The connection switched to HTTP/2 (prior knowledge or `Upgrade: h2c`):
    /// every event from then on is its driver's. (The connection's driver is a
    /// constant; this is where its protocol changes.)
    @exclusivity(unchecked) var upgraded: HTTP2Driver?

    init(_ machine: HTTP1StateMachine, connections: HTTPConnections) {
        self.machine = machine
        self.connections = connections
        self.dispatcher = connections.dispatcher
        self.requestLog = connections.requestLog
    }

    var context: ServerContext { connections.context }
    var logger: Logger { connections.context.logger }

    // MARK: - Input

    func readable(_ connection: Connection, loop: EventLoop) {
        if upgraded != nil { return upgraded!.readable(connection, loop: loop) }
        loop.readInput(connection, self)
    }

    @inline(__always)
    func nextRead(_ connection: Connection, loop: EventLoop) -> ConnectionRead {
        let plan = machine.nextRead(now: loop.now)
        if machine.takeMemoryWait() { loop.registerMemoryWaiter(connection) }
        return plan
    }

    @inline(__always)
    func withDirectSpace<R>(_ read: (inout MutableRawSpan) -> R) -> R {
        machine.withDirectSpace(read)
    }

    @inline(__always)
    func directRead(_ count: Int, now: UInt64) -> HTTP1Action {
        machine.directRead(count, now: now, admission: dispatcher)
    }

    @inline(__always)
    func received(_ bytes: RawSpan, now: UInt64) -> HTTP1Action {
        machine.received(bytes, now: now, admission: dispatcher)
    }

    func inputEnded(_ connection: Connection, loop: EventLoop) {
        perform(machine.peerClosedInput(), on: connection, loop: loop)
    }

    var inputInterest: SelectorEvents {
        if upgraded != nil { return upgraded!.inputInterest }
        var wanted: SelectorEvents = machine.wantsInput ? .readable : []
        // While a handler runs the connection is not read, but its closing is watched.
        if handlerTask != nil && !closeSeen { wanted.insert(.readHangup) }
        return wanted
    }

    // MARK: - Actions

    /// Carries out what the state machine asked for.
    func perform(_ action: consuming HTTP1Action, on connection: Connection, loop: EventLoop) {
        switch consume action {
        case .none:
            break
        case .dispatch:
            dispatch(on: connection, loop: loop)
        case .reject(let rejection):
            write(rejection, on: connection, loop: loop)
        case .sendContinue:
            loop.enqueue(connection, continueResponse)
            flush(connection, loop: loop)
        case .startHTTP2(let buffered):
            HTTP2Driver.startPriorKnowledge(on: connection, loop: loop, from: self, buffered: buffered)
        case .upgradeToHTTP2(let request, let settings, let buffered, let record):
            HTTP2Driver.upgrade(
                connection, loop: loop, from: self, request, settings: settings, buffered: buffered, record: record)
        case .rejectPreface:
            logger.notice(
                "invalid HTTP/2 connection preface; sent GOAWAY(PROTOCOL_ERROR)",
                metadata: ["peer": "\(connection.peerDescription)"])
            responseInFlight = true
            loop.enqueue(connection, invalidPrefaceGoaway)
            flush(connection, loop: loop)
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
            loop.closeConnection(connection)
        case .linger:
            loop.startLingeringClose(connection)
        }
        if machine.takeMemoryWait() { loop.registerMemoryWaiter(connection) }
    }

    // MARK: - Events

    /// The periodic check: header and body timeouts, the request timeout, a client that stopped reading.
    func tick(_ connection: Connection, loop: EventLoop, underPressure: Bool) {
        if upgraded != nil { return upgraded!.tick(connection, loop: loop, underPressure: underPressure) }
        switch machine.state {
        case .head, .body:
            perform(machine.tick(now: loop.now, underPressure: underPressure), on: connection, loop: loop)
        case .handling:
            cancelHandlerIfTimedOut(connection, loop: loop)
        case .responding:
            if loop.now - connection.lastWriteProgress > context.idleTimeout {
                logger.notice(
                    "client stopped reading the response; closing", metadata: ["peer": "\(connection.peerDescription)"])
                loop.closeConnection(connection)
            }
        case .done:
            break
        }
    }

    /// From now on every answer closes the connection. An idle keep-alive
    /// connection may already have a request waiting in the socket: it is
    /// served (with `Connection: close`) rather than reset; else it closes now.
    func beginDrain(_ connection: Connection, loop: EventLoop) {
        if upgraded != nil { return upgraded!.beginDrain(connection, loop: loop) }
        machine.beginDrain(now: loop.now)
        guard machine.isIdle else { return }
        readable(connection, loop: loop)
        if !connection.isClosed && !connection.isLingering && upgraded == nil && machine.isIdle {
            loop.closeConnection(connection)
        }
    }

    /// A body waiting for memory tries again.
    func memoryReleased(_ connection: Connection, loop: EventLoop) {
        if upgraded != nil { return upgraded!.memoryReleased(connection, loop: loop) }
        guard machine.waitsForMemory else { return }
        perform(machine.memoryReleased(now: loop.now, admission: dispatcher), on: connection, loop: loop)
        if !connection.isClosed { loop.updateInterest(connection) }
    }

    /// The handler's task answered (HTTP/1.1 has one request at a time: `exchange` is 0).
    func handlerFinished(_ connection: Connection, loop: EventLoop, exchange: Int32, _ response: ServerResponse) {
        if upgraded != nil { return upgraded!.handlerFinished(connection, loop: loop, exchange: exchange, response) }
        deliver(response, to: connection, loop: loop)
    }

    func connectionClosed(_ connection: Connection) {
        upgraded?.connectionClosed(connection)
        handlerTask.take()?.cancel()
        machine.connectionClosed()
    }
}

/// The interim response that asks for a body (`Expect: 100-continue`).
private let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
