import Logging

/// One event loop: a thread with its own epoll instance, listening socket and
/// connections. Other threads only ever call ``send(_:)``; everything else runs
/// on the loop's own thread, which is what makes the unchecked Sendable sound.
///
/// The loop knows sockets, not what they speak: each connection's
/// ``ConnectionDriver`` (made by ``drivers``) reads, answers and writes through
/// the loop's socket operations, and the loop tells it what happened.
final class EventLoop: @unchecked Sendable {
    static let wakeToken: UInt64 = 0
    /// Listener i has token 1 + i; connections start above.
    static let firstConnectionID: UInt64 = 16
    static let readChunk = 128 * 1024
    /// A connection stops reading (and an HTTP/2 session stops producing) above this much queued output.
    static let outboundHighWater = 1 << 20

    let index: Int
    let context: ServerContext
    /// Makes each new connection's driver: what the loop's connections speak.
    let drivers: any ConnectionDriverFactory
    /// The loop's thread, its local jobs, its inbox and its eventfd (see ``LoopMailbox``).
    let mailbox: LoopMailbox
    /// Runs handler tasks on this loop's thread (``HandlerExecution/eventLoop``).
    let executor: LoopExecutor
    // The loop-thread state below skips dynamic exclusivity checks: only the
    // loop's own thread touches it, and a request accesses it many times.

    /// Messages sent from the loop's own thread (a handler task that ran here): no lock, no wake-up.
    @exclusivity(unchecked) var localMessages: [LoopMessage] = []
    /// Connections whose epoll interest may have changed this round.
    @exclusivity(unchecked) var interestPending: [Connection] = []
    /// Connections flushed once after the messages being handled (``flushAfterMessages(_:)``).
    @exclusivity(unchecked) var pendingFlushes: [Connection] = []
    /// Connections waiting for request-body memory (``BodyMemoryBudget``), in the order they began to.
    @exclusivity(unchecked) var memoryWaiters: [Connection] = []
    /// The loop's epoll instance: the wake-up eventfd, the listeners and the connections.
    let selector: Selector

    // Loop-thread state.
    @exclusivity(unchecked) var listeners: [Listener]
    @exclusivity(unchecked) var connections: [UInt64: Connection] = [:]
    @exclusivity(unchecked) var nextConnectionID: UInt64 = EventLoop.firstConnectionID
    @exclusivity(unchecked) private(set) var now: UInt64 = 0
    @exclusivity(unchecked) var nextSweep: UInt64 = 0
    @exclusivity(unchecked) var draining = false
    @exclusivity(unchecked) var drainDeadline: UInt64 = 0
    @exclusivity(unchecked) var listenerResumeAt: UInt64?
    @exclusivity(unchecked) var lastAcceptErrorLog: UInt64 = 0
    /// What every connection of the loop reads into in turn.
    let readBuffer = ReadBuffer(capacity: EventLoop.readChunk)

    var logger: Logger { context.logger }

    /// Takes ownership of the listeners' descriptors (closed on failure too).
    init(
        index: Int, context: ServerContext, listeners: [Listener], drivers: any ConnectionDriverFactory
    ) throws(HTTPServerError) {
        self.index = index
        self.context = context
        self.listeners = listeners
        self.drivers = drivers
        var wake: Int32 = -1
        do throws(SystemError) {
            let selector = try Selector()
            self.selector = selector
            wake = try Posix.makeEventFD(nonBlocking: true)
            try selector.register(wake, token: Self.wakeToken, interest: .readable)
            for (i, listener) in listeners.enumerated() {
                try listener.register(with: selector, token: 1 + UInt64(i))
            }
        } catch {
            if wake >= 0 { Posix.close(wake) }
            for listener in listeners { listener.closeUnregistered() }
            throw HTTPServerError(error)
        }
        self.mailbox = LoopMailbox(wakeFD: wake)
        self.executor = LoopExecutor(mailbox: mailbox)
    }

    /// Whether the caller runs on this loop's thread.
    var isLoopThread: Bool { mailbox.isLoopThread }

    /// Hands `message` to the loop thread (thread-safe). Dropped if the loop has exited.
    func send(_ message: LoopMessage) {
        if isLoopThread {
            localMessages.append(message)
            return
        }
        _ = mailbox.post(message)
    }

    // MARK: - The loop

    /// Runs until shut down and drained; called on the loop's own thread.
    func run() {
        mailbox.thread.store(SystemInfo.currentThread, ordering: .relaxed)
        now = monotonicNanos()
        nextSweep = now + UInt64(context.tickMilliseconds) * 1_000_000
        while true {
            applyInterest()
            let count: Int
            do throws(SystemError) {
                count = try selector.wait(timeoutMilliseconds: epollTimeout())
            } catch {
                logger.critical("epoll_wait failed; event loop \(index) stops", metadata: ["error": "\(errnoDescription(error.code))"])
                break
            }
            now = monotonicNanos()
            for i in 0..<count {
                let event = selector[i]
                switch event.token {
                case Self.wakeToken:
                    Posix.readEventFD(mailbox.wakeFD)
                case 1..<Self.firstConnectionID:
                    let i = Int(event.token - 1)
                    if i < listeners.count && listeners[i].isOpen { acceptConnections(listeners[i]) }
                default:
                    if let connection = connections[event.token] { handleEvent(connection, event.events) }
                }
            }
            runLocalWork()
            if let resumeAt = listenerResumeAt, now >= resumeAt { resumeListener() }
            if now >= nextSweep {
                sweep()
                nextSweep = now + UInt64(context.tickMilliseconds) * 1_000_000
            }
            if draining {
                if connections.isEmpty { break }
                if now >= drainDeadline {
                    if !connections.isEmpty {
                        logger.warning(
                            "shutdown grace period over; closing connections with unfinished requests",
                            metadata: ["count": "\(connections.count)", "loop": "\(index)"])
                    }
                    for connection in Array(connections.values) { closeConnection(connection) }
                    break
                }
            }
        }
        teardown()
    }

    func epollTimeout() -> Int32 {
        if !mailbox.localJobs.isEmpty || !localMessages.isEmpty { return 0 }
        var timeout = Int64(context.tickMilliseconds)
        if listenerResumeAt != nil { timeout = min(timeout, 100) }
        if draining {
            let remaining = drainDeadline > now ? Int64((drainDeadline - now) / 1_000_000) + 1 : 0
            timeout = min(timeout, remaining)
        }
        return Int32(max(0, timeout))
    }

    /// Releases a loop whose thread never ran (start failed part-way).
    func closeUnstarted() {
        teardown(notifyLifecycle: false)
    }

    func teardown(notifyLifecycle: Bool = true) {
        closeListeners()
        for connection in Array(connections.values) { closeConnection(connection) }
        // Handler tasks still queued here finish elsewhere (their responses have nowhere to go).
        let stranded = mailbox.close()
        // From now on no thread is this loop's (a new thread may reuse its id).
        mailbox.thread.store(0, ordering: .relaxed)
        for case .job(let job) in stranded { globalConcurrentExecutor.enqueue(job) }
        for job in mailbox.localJobs { globalConcurrentExecutor.enqueue(job) }
        mailbox.localJobs = []
        localMessages = []
        selector.close()
        if notifyLifecycle { context.lifecycle.loopExited() }
    }

    /// Runs the handler jobs and handles the messages queued since the last
    /// round, until none are left (a job may queue more of either).
    func runLocalWork() {
        var rounds = 0
        repeat {
            if !mailbox.localJobs.isEmpty {
                let jobs = mailbox.localJobs
                mailbox.localJobs.removeAll(keepingCapacity: true)
                let executor = self.executor.asUnownedTaskExecutor()
                for (i, job) in jobs.enumerated() {
                    job.runSynchronously(on: executor)
                    CrashReporting.requestEnded()  // a task that suspended is no longer this thread's request
                    // Many requests read at once (HTTP/2 streams of one connection):
                    // answers go out every few handlers, so the client works on
                    // the first while the loop runs the rest.
                    if i % Self.jobsPerFlush == Self.jobsPerFlush - 1 && !localMessages.isEmpty {
                        handleLocalMessages()
                    }
                }
            }
            if !localMessages.isEmpty { handleLocalMessages() }
            drainInbox()
            rounds += 1
            // A task that keeps re-enqueuing itself must not starve the sockets.
        } while (!mailbox.localJobs.isEmpty || !localMessages.isEmpty) && rounds < 64
    }

    /// Handler jobs run between two rounds of handling their responses.
    static let jobsPerFlush = 16

    func handleLocalMessages() {
        let messages = localMessages
        localMessages.removeAll(keepingCapacity: true)
        handle(messages)
    }

    func drainInbox() {
        handle(mailbox.drain())
    }

    func handle(_ messages: [LoopMessage]) {
        for message in messages {
            switch message {
            case .response(let id, let exchange, let response):
                // A connection that lingers (or is gone) has answered all it will.
                guard let connection = connections[id], !connection.isLingering else { continue }
                connection.driver.handlerFinished(connection, loop: self, exchange: exchange, response)
            case .shutdown(let deadline):
                beginDrain(deadline: deadline)
            case .job(let job):
                mailbox.localJobs.append(job)
            case .memoryReleased:
                resumeMemoryWaiters()
            }
        }
        while let connection = pendingFlushes.popLast() {
            connection.flushPending = false
            flush(connection)
        }
    }

    /// Flushes `connection` once the messages being handled are: the answers of
    /// one round on one connection go out in one write, not each in its own.
    func flushAfterMessages(_ connection: Connection) {
        guard !connection.flushPending else { return }
        connection.flushPending = true
        pendingFlushes.append(connection)
    }
}
