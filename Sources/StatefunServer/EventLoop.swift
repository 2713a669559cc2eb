import CLinuxShims
import Glibc
import Logging
import StatefunLocks
import Synchronization

/// Whether the server reports itself ready (``HTTPServerConfiguration/healthCheckPath``).
final class Readiness: Sendable {
    let value = Atomic<Bool>(false)
    var isReady: Bool { value.load(ordering: .relaxed) }
    func set(_ ready: Bool) { value.store(ready, ordering: .relaxed) }
}

/// Server-wide, immutable settings and shared services of every event loop.
final class ServerContext: Sendable {
    let configuration: HTTPServerConfiguration
    let routes: RouteTable
    let logger: Logger
    let lifecycle: Lifecycle
    let readiness: Readiness
    let metrics: ServerMetrics
    let workerPool: WorkerPool?
    let dumper: FailedRequestDumper?
    let idleTimeout: UInt64
    /// ``HTTPServerConfiguration/requestTimeout`` in nanoseconds.
    let requestTimeout: UInt64?
    let headerTimeout: UInt64
    /// The bound on request-body memory of the whole server (``HTTPServerConfiguration/maxBodyMemory``).
    let bodyMemory: BodyMemoryBudget
    let bodyMemoryWait: UInt64
    /// How often each loop checks timeouts.
    let tickMilliseconds: Int32
    /// How long a closing connection may linger, draining unread input.
    let lingerTimeout: UInt64 = 5_000_000_000

    init(
        configuration: HTTPServerConfiguration, routes: RouteTable, logger: Logger, lifecycle: Lifecycle,
        readiness: Readiness, metrics: ServerMetrics, workerPool: WorkerPool?, dumper: FailedRequestDumper?
    ) {
        self.configuration = configuration
        self.routes = routes
        self.logger = logger
        self.lifecycle = lifecycle
        self.readiness = readiness
        self.metrics = metrics
        self.workerPool = workerPool
        self.dumper = dumper
        self.idleTimeout = max(configuration.idleTimeout.clampedNanoseconds, 1_000_000)
        self.requestTimeout = configuration.requestTimeout.map { max($0.clampedNanoseconds, 1_000_000) }
        self.headerTimeout = max(configuration.headerTimeout.clampedNanoseconds, 1_000_000)
        self.bodyMemory = BodyMemoryBudget(limit: configuration.maxBodyMemory)
        self.bodyMemoryWait = max(configuration.bodyMemoryWait.clampedNanoseconds, 1_000_000)
        let shortest = min(idleTimeout, headerTimeout, bodyMemoryWait, requestTimeout ?? .max) / 4 / 1_000_000
        self.tickMilliseconds = Int32(min(1000, max(10, shortest)))
    }
}

/// Tracks running loops so ``HTTPServer/waitUntilStopped()`` can wait for them.
final class Lifecycle: Sendable {
    struct State {
        var liveLoops = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    let state = Lock(State())

    func loopsStarting(_ count: Int) {
        state.withLock { $0.liveLoops += count }
    }

    func loopExited() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.liveLoops -= 1
            guard s.liveLoops == 0 else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.liveLoops == 0 { return true }
                s.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// Work handed to a loop from other threads.
enum LoopMessage: Sendable {
    /// A handler finished: write its response on the connection (`stream` 0: HTTP/1.x).
    case response(connection: UInt64, stream: Int32, ServerResponse)
    /// Stop accepting, finish in-flight requests, force-close at `deadline` (monotonic ns).
    case shutdown(deadline: UInt64)
    /// A job of a handler task preferring this loop (``LoopExecutor``), enqueued from another thread.
    case job(UnownedJob)
    /// Request-body memory was released: connections waiting for it may go on (``BodyMemoryBudget``).
    case memoryReleased
}

/// One event loop: a thread with its own epoll instance, listening socket and
/// connections. Other threads only ever call ``send(_:)``; everything else runs
/// on the loop's own thread, which is what makes the unchecked Sendable sound.
final class EventLoop: @unchecked Sendable {
    /// A listening socket of this loop: its own SO_REUSEPORT TCP socket, or its
    /// duplicate of a socket all loops share (watched with EPOLLEXCLUSIVE): the
    /// Unix socket, or a supervisor's TCP socket.
    struct Listener {
        var fd: Int32
        var unixSocketPath: String?
        var shared = false
    }

    static let wakeToken: UInt64 = 0
    /// Listener i has token 1 + i; connections start above.
    static let firstConnectionID: UInt64 = 16
    static let maxEvents: Int32 = 256
    static let readChunk = 128 * 1024
    /// An HTTP/2 connection stops reading (and nghttp2 stops producing) above this much queued output.
    static let http2HighWater = 1 << 20

    let index: Int
    let context: ServerContext
    /// Routes requests and runs their handlers, for both protocols.
    let dispatcher: RequestDispatcher
    /// Metrics and logs of answered requests, for both protocols.
    let requestLog: RequestLog
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
    /// HTTP/2 connections with answers submitted during ``handle(_:)``.
    @exclusivity(unchecked) var pendingFlushes: [Connection] = []
    /// Connections waiting for request-body memory (``BodyMemoryBudget``), in the order they began to.
    @exclusivity(unchecked) var memoryWaiters: [Connection] = []
    let epollFD: Int32

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
    @exclusivity(unchecked) var dateCache = DateCache()
    @exclusivity(unchecked) var encodedFieldsCache = FieldsCache(empty: EncodedFields(), encoder: encodeHeaderFields)
    @exclusivity(unchecked) var http2FieldsCache = FieldsCache(empty: HTTP2Fields(), encoder: encodeHTTP2Fields)
    let readBuffer: UnsafeMutableRawBufferPointer
    let events: UnsafeMutablePointer<cshim_epoll_event>

    let EPOLLIN = cshim_epollin()
    let EPOLLOUT = cshim_epollout()
    let EPOLLERR = cshim_epollerr()
    let EPOLLHUP = cshim_epollhup()
    let EPOLLRDHUP = cshim_epollrdhup()

    var logger: Logger { context.logger }
    var configuration: HTTPServerConfiguration { context.configuration }

    /// Takes ownership of the listeners' descriptors (closed on failure too).
    init(index: Int, context: ServerContext, listeners: [Listener]) throws(HTTPServerError) {
        self.index = index
        self.context = context
        self.listeners = listeners
        let dispatcher = RequestDispatcher(context: context)
        self.dispatcher = dispatcher
        self.requestLog = RequestLog(context: context, healthPath: dispatcher.healthRoute?.path)
        let ep = cshim_epoll_create()
        if ep < 0 {
            let e = errno
            for listener in listeners { close(listener.fd) }
            throw .system("epoll_create1", e)
        }
        let wake = cshim_eventfd(1)
        if wake < 0 {
            let e = errno
            close(ep)
            for listener in listeners { close(listener.fd) }
            throw .system("eventfd", e)
        }
        var ok = cshim_epoll_ctl(ep, cshim_epoll_ctl_add(), wake, cshim_epollin(), Self.wakeToken) == 0
        for (i, listener) in listeners.enumerated() where ok {
            ok = cshim_epoll_ctl(ep, cshim_epoll_ctl_add(), listener.fd, Self.listenerEvents(listener), 1 + UInt64(i)) == 0
        }
        if !ok {
            let e = errno
            close(ep)
            close(wake)
            for listener in listeners { close(listener.fd) }
            throw .system("epoll_ctl", e)
        }
        self.epollFD = ep
        self.mailbox = LoopMailbox(wakeFD: wake)
        self.executor = LoopExecutor(mailbox: mailbox)
        self.readBuffer = .allocate(byteCount: Self.readChunk, alignment: 16)
        self.events = .allocate(capacity: Int(Self.maxEvents))
    }

    deinit {
        readBuffer.deallocate()
        events.deallocate()
    }

    static func listenerEvents(_ listener: Listener) -> UInt32 {
        listener.unixSocketPath == nil && !listener.shared ? cshim_epollin() : cshim_epollin() | cshim_epollexclusive()
    }

    /// The current `date` value, as bytes (an HTTP/2 response's field).
    func currentDateBytes() -> [UInt8] { dateCache.currentValueBytes() }

    /// An HTTP/2 response's header fields, checked and encoded (``FieldsCache``).
    func encodeHTTP2ResponseFields(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> HTTP2Fields {
        http2FieldsCache.encode(fields, problems: &problems)
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
        mailbox.thread.store(pthread_self(), ordering: .relaxed)
        now = monotonicNanos()
        nextSweep = now + UInt64(context.tickMilliseconds) * 1_000_000
        while true {
            applyInterest()
            let n = cshim_epoll_wait(epollFD, events, Self.maxEvents, epollTimeout())
            now = monotonicNanos()
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                logger.critical("epoll_wait failed; event loop \(index) stops", metadata: ["error": "\(errnoDescription(e))"])
                break
            }
            for i in 0..<Int(n) {
                let event = events[i]
                switch event.data {
                case Self.wakeToken:
                    var value: UInt64 = 0
                    _ = read(mailbox.wakeFD, &value, 8)
                case 1..<Self.firstConnectionID:
                    let i = Int(event.data - 1)
                    if i < listeners.count && listeners[i].fd >= 0 { acceptConnections(listeners[i]) }
                default:
                    if let connection = connections[event.data] { handleEvent(connection, event.events) }
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
        close(epollFD)
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
                    cshim_inflight_end()  // a task that suspended is no longer this thread's request
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
            case .response(let id, let stream, let response):
                guard let connection = connections[id] else { continue }
                if stream == 0 {
                    deliver(response, to: connection)
                } else if let session = connection.http2 {
                    // The answers of one round on one HTTP/2 connection go out in
                    // one write: flushed after the last of them, not each.
                    session.handlerFinished(stream, response)
                    if !connection.flushPending {
                        connection.flushPending = true
                        pendingFlushes.append(connection)
                    }
                }
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
}
