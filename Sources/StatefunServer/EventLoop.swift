import CLinuxShims
import Glibc
import Logging
import StatefunLocks
import Synchronization

/// What the logs and metrics need to know of a request until it is answered.
struct RequestRecord {
    var method: String
    var path: String
    /// The matched route's path, or `unmatched`: the metrics label.
    var routePath: String
    var protocolName: String
    var peer: String
    /// When the request head was complete (monotonic ns).
    var startedAt: UInt64
    var requestBytes = 0
    var responseBytes = 0
}

/// Whether the server reports itself ready (``HTTPServerConfiguration/healthCheckPath``).
final class Readiness: Sendable {
    private let value = Atomic<Bool>(false)
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
    private struct State {
        var liveLoops = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Lock(State())

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

    private static let wakeToken: UInt64 = 0
    /// Listener i has token 1 + i; connections start above.
    private static let firstConnectionID: UInt64 = 16
    private static let maxEvents: Int32 = 256
    private static let readChunk = 128 * 1024
    /// An HTTP/2 connection stops reading (and nghttp2 stops producing) above this much queued output.
    private static let http2HighWater = 1 << 20
    /// Fixed-length bodies up to this size are allocated whole when their first
    /// bytes arrive and read into directly; larger ones grow as they arrive.
    static let wholeBodyLimit = 256 * 1024
    /// A body this large makes the connection read its next head on its own, in
    /// a read of `headReadAfterLargeBody` bytes: one more `read` saves a copy of the body.
    static let largeBody = 32 * 1024
    static let headReadAfterLargeBody = 4096

    let index: Int
    let context: ServerContext
    /// The built-in health check (``HTTPServerConfiguration/healthCheckPath``), answered on the loop.
    private let healthRoute: Route?
    /// The loop's thread, its local jobs, its inbox and its eventfd (see ``LoopMailbox``).
    let mailbox: LoopMailbox
    /// Runs handler tasks on this loop's thread (``HandlerExecution/eventLoop``).
    let executor: LoopExecutor
    // The loop-thread state below skips dynamic exclusivity checks: only the
    // loop's own thread touches it, and a request accesses it many times.

    /// Messages sent from the loop's own thread (a handler task that ran here): no lock, no wake-up.
    @exclusivity(unchecked) private var localMessages: [LoopMessage] = []
    /// Connections whose epoll interest may have changed this round.
    @exclusivity(unchecked) private var interestPending: [Connection] = []
    /// HTTP/2 connections with answers submitted during ``handle(_:)``.
    @exclusivity(unchecked) private var pendingFlushes: [Connection] = []
    /// Connections waiting for request-body memory (``BodyMemoryBudget``), in the order they began to.
    @exclusivity(unchecked) var memoryWaiters: [Connection] = []
    private let epollFD: Int32

    // Loop-thread state.
    @exclusivity(unchecked) private var listeners: [Listener]
    @exclusivity(unchecked) private var connections: [UInt64: Connection] = [:]
    @exclusivity(unchecked) private var nextConnectionID: UInt64 = EventLoop.firstConnectionID
    @exclusivity(unchecked) private(set) var now: UInt64 = 0
    @exclusivity(unchecked) private var nextSweep: UInt64 = 0
    @exclusivity(unchecked) private var draining = false
    @exclusivity(unchecked) private var drainDeadline: UInt64 = 0
    @exclusivity(unchecked) private var listenerResumeAt: UInt64?
    @exclusivity(unchecked) private var lastAcceptErrorLog: UInt64 = 0
    @exclusivity(unchecked) private var dateCache = DateCache()
    @exclusivity(unchecked) private var encodedFieldsCache = FieldsCache(empty: EncodedFields(), encoder: encodeHeaderFields)
    @exclusivity(unchecked) private var http2FieldsCache = FieldsCache(empty: HTTP2Fields(), encoder: encodeHTTP2Fields)
    /// The metrics of the last request answered (see `ServerMetrics.RequestInstruments`).
    @exclusivity(unchecked) private var lastRequestInstruments: ServerMetrics.RequestInstruments?
    private let readBuffer: UnsafeMutableRawBufferPointer
    private let events: UnsafeMutablePointer<cshim_epoll_event>

    private let EPOLLIN = cshim_epollin()
    private let EPOLLOUT = cshim_epollout()
    private let EPOLLERR = cshim_epollerr()
    private let EPOLLHUP = cshim_epollhup()
    private let EPOLLRDHUP = cshim_epollrdhup()

    var logger: Logger { context.logger }
    private var configuration: HTTPServerConfiguration { context.configuration }

    /// Takes ownership of the listeners' descriptors (closed on failure too).
    init(index: Int, context: ServerContext, listeners: [Listener]) throws(HTTPServerError) {
        self.index = index
        self.context = context
        self.listeners = listeners
        let readiness = context.readiness
        self.healthRoute = context.configuration.healthCheckPath.map { path in
            // The same answer whichever way the request reaches it (HTTP/2 streams with handlers on
            // the loop call a synchronous handler rather than the inline one).
            let answer: @Sendable (ServerRequest) -> ServerResponse = { _ in
                readiness.isReady ? .text(200, "ok\n") : .text(503, "not ready\n")
            }
            var route = Route(path: path, methods: ["GET", "HEAD"], synchronousHandler: answer)
            route.inlineHandler = answer
            return route
        }
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

    private static func listenerEvents(_ listener: Listener) -> UInt32 {
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

    private func epollTimeout() -> Int32 {
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

    private func teardown(notifyLifecycle: Bool = true) {
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
    private func runLocalWork() {
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

    private func handleLocalMessages() {
        let messages = localMessages
        localMessages.removeAll(keepingCapacity: true)
        handle(messages)
    }

    private func drainInbox() {
        handle(mailbox.drain())
    }

    private func handle(_ messages: [LoopMessage]) {
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

    // MARK: - Accepting

    private func acceptConnections(_ listener: Listener) {
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutableBytes(of: &storage) { raw in
                cshim_accept4(listener.fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
            if fd < 0 {
                let e = errno
                switch e {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                default:
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM...: the pending connection stays
                    // queued, so a level-triggered listener would spin. Pause it briefly.
                    if now - lastAcceptErrorLog > 10_000_000_000 || lastAcceptErrorLog == 0 {
                        lastAcceptErrorLog = now
                        logger.warning(
                            "accept failed; pausing the listener for 100 ms",
                            metadata: ["error": "\(errnoDescription(e))", "loop": "\(index)"])
                    }
                    pauseListener()
                    return
                }
            }
            if listener.unixSocketPath == nil { setIntOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
            let id = nextConnectionID
            nextConnectionID += 1
            let peer = SocketAddress(storage: storage, length: length)
            let connection = Connection(
                id: id, fd: fd, peer: peer, unixSocketPath: listener.unixSocketPath, interest: EPOLLIN, now: now,
                mayBePreface: configuration.http2.enabled)
            if cshim_epoll_ctl(epollFD, cshim_epoll_ctl_add(), fd, EPOLLIN, id) != 0 {
                logger.error("epoll_ctl(ADD) failed", metadata: ["error": "\(errnoDescription(errno))"])
                close(fd)
                continue
            }
            connections[id] = connection
            context.metrics.connectionsAccepted.increment()
            context.metrics.connectionsOpen.increment()
        }
    }

    // Removed and re-added rather than modified: EPOLLEXCLUSIVE registrations cannot be modified.
    private func pauseListener() {
        for (i, listener) in listeners.enumerated() where listener.fd >= 0 {
            _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_del(), listener.fd, 0, 1 + UInt64(i))
        }
        listenerResumeAt = now + 100_000_000
    }

    private func resumeListener() {
        listenerResumeAt = nil
        for (i, listener) in listeners.enumerated() where listener.fd >= 0 {
            _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_add(), listener.fd, Self.listenerEvents(listener), 1 + UInt64(i))
        }
    }

    private func closeListeners() {
        for i in listeners.indices where listeners[i].fd >= 0 {
            // Explicitly: a descriptor whose socket other loops still hold open (a dup) stays in the set otherwise.
            _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_del(), listeners[i].fd, 0, 1 + UInt64(i))
            close(listeners[i].fd)
            listeners[i].fd = -1
        }
        listenerResumeAt = nil
    }

    // MARK: - Connection events

    private func handleEvent(_ connection: Connection, _ mask: UInt32) {
        if mask & EPOLLRDHUP != 0 && connection.phase == .handling { clientWentAway(connection) }
        if mask & EPOLLIN != 0 { readable(connection) }
        if !connection.isClosed && mask & EPOLLOUT != 0 { flush(connection) }
        if !connection.isClosed && mask & (EPOLLERR | EPOLLHUP) != 0 {
            logger.debug("connection reset or hung up", metadata: ["peer": "\(connection.peerDescription)"])
            closeConnection(connection)
        }
    }

    private func readable(_ connection: Connection) {
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

    private func wantsRead(_ connection: Connection) -> Bool {
        switch connection.phase {
        case .head, .body: !connection.peerClosed && !connection.memoryBlocked
        case .lingering: true
        case .handling, .responding: false
        // Backpressure: a client that does not read its responses is not read from either.
        case .http2: !connection.peerClosed && connection.outboundBytes < Self.http2HighWater
        }
    }

    private func ingest(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
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

    private func appendBody(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
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

    private func peerClosedInput(_ connection: Connection) {
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

    // MARK: - Request processing

    private enum HeadStep {
        case needMore(start: Int, resume: Int)
        case head(ParsedHead, start: Int, end: Int)
        case failure(HTTPError)
    }

    /// Looks for a complete request head in `buffer` from `start`, the bytes
    /// before `resume` having been scanned already.
    private func headStep(_ connection: Connection, _ buffer: UnsafeBufferPointer<UInt8>, start: Int, resume: Int) -> HeadStep {
        let maxHeaderSize = configuration.maxHeaderSize
        var start = start
        // RFC 9112 §2.2: ignore empty lines before the request line.
        while start + 1 < buffer.count && buffer[start] == CR && buffer[start + 1] == LF { start += 2 }
        if start + 1 == buffer.count && buffer[start] == CR { return .needMore(start: start, resume: start) }
        do throws(HTTPError) {
            switch try scanHead(buffer, start: start, from: resume) {
            case .incomplete(let resume):
                if buffer.count - start > maxHeaderSize {
                    return .failure(HTTPError(431, "request head exceeds the limit of \(maxHeaderSize) bytes"))
                }
                return .needMore(start: start, resume: resume)
            case .complete(let end):
                if end - start > maxHeaderSize {
                    return .failure(HTTPError(431, "request head exceeds the limit of \(maxHeaderSize) bytes"))
                }
                let head = try connection.headCache.parse(UnsafeBufferPointer(rebasing: buffer[start..<end]))
                return .head(head, start: start, end: end)
            }
        } catch {
            return .failure(error)
        }
    }

    /// Advances the request state machine as far as the buffered input allows.
    func process(_ connection: Connection) {
        while !connection.isClosed {
            switch connection.phase {
            case .head:
                guard connection.hasBufferedInput else { return }
                if connection.headStartedAt == nil { connection.headStartedAt = now }
                if connection.mayBePreface {
                    let start = connection.inboundStart
                    let n = min(connection.inbound.count - start, http2Preface.count)
                    if !connection.inbound[start..<(start + n)].elementsEqual(http2Preface[0..<n]) {
                        if n > http2PrefaceRequestLine
                            && connection.inbound[start..<(start + http2PrefaceRequestLine)]
                                .elementsEqual(http2Preface[0..<http2PrefaceRequestLine])
                        {
                            rejectInvalidPreface(connection)
                            return
                        }
                        connection.mayBePreface = false
                    } else if n < http2Preface.count {
                        return  // so far a prefix of the preface: wait for the rest
                    } else {
                        startPriorKnowledgeHTTP2(connection)
                        return
                    }
                }
                let step = connection.inbound.withUnsafeBufferPointer {
                    headStep(connection, $0, start: connection.inboundStart, resume: connection.scanResume)
                }
                switch step {
                case .needMore(let start, let resume):
                    connection.inboundStart = start
                    connection.scanResume = resume
                    // Only empty lines so far: still idle, not a slow request head.
                    if start == connection.inbound.count { connection.headStartedAt = nil }
                    return
                case .failure(let error):
                    reject(connection, error)
                    return
                case .head(let head, _, let end):
                    connection.inboundStart = end
                    connection.scanResume = end
                    connection.headStartedAt = nil
                    beginRequest(connection, head)
                }
            case .body:
                if connection.chunkedDecoder != nil {
                    guard connection.hasBufferedInput else { return }
                    // Decoded bytes are never more than the input: memory for the input is enough.
                    let allowed = admitBody(connection, connection.inbound.count - connection.inboundStart)
                    if allowed == 0 { return }
                    var decoder = connection.chunkedDecoder!
                    var body = connection.body
                    connection.body = []
                    let maxBody = configuration.maxBodySize
                    let maxTrailer = configuration.maxHeaderSize
                    let start = connection.inboundStart
                    let result = connection.inbound.withUnsafeBufferPointer { buffer -> Result<Int, HTTPError> in
                        do throws(HTTPError) {
                            let consumed = try decoder.feed(
                                UnsafeBufferPointer(rebasing: buffer[start..<(start + allowed)]), into: &body,
                                maxBodySize: maxBody, maxTrailerSize: maxTrailer)
                            return .success(consumed)
                        } catch {
                            return .failure(error)
                        }
                    }
                    connection.body = body
                    connection.chunkedDecoder = decoder
                    trimBodyReservation(connection)
                    switch result {
                    case .failure(let error):
                        reject(connection, error)
                        return
                    case .success(let consumed):
                        connection.inboundStart += consumed
                        if decoder.isDone {
                            dispatch(connection)
                        } else {
                            return
                        }
                    }
                } else {
                    let available = connection.inbound.count - connection.inboundStart
                    let n = available > 0 ? admitBody(connection, min(available, connection.bodyRemaining)) : 0
                    if n > 0 {
                        let start = connection.inboundStart
                        connection.inbound.withUnsafeBytes { raw in
                            appendBody(connection, UnsafeRawBufferPointer(rebasing: raw[start..<(start + n)]))
                        }
                        connection.inboundStart += n
                    }
                    if connection.bodyRemaining == 0 {
                        if connection.discardingBody {
                            sendPendingRejection(connection)
                        } else {
                            dispatch(connection)
                        }
                    } else {
                        return
                    }
                }
            case .handling, .responding, .lingering, .http2:
                return
            }
        }
    }

    /// The route for a request: a registered route, else the built-in health check.
    func matchRoute(path: String, method: String) -> RouteTable.Match {
        let match = context.routes.match(path: path, method: method)
        guard case .notFound = match, let health = healthRoute, path == health.path else { return match }
        return health.methods.contains(method) ? .found(health) : .methodNotAllowed(allow: "GET, HEAD")
    }

    /// Validates a parsed head against routes and limits, then sets up body reading.
    private func beginRequest(_ connection: Connection, _ head: consuming ParsedHead) {
        connection.mayBePreface = false
        connection.record = RequestRecord(
            method: head.method, path: head.path, routePath: "unmatched", protocolName: head.version.string,
            peer: connection.peerDescription, startedAt: now)
        switch matchRoute(path: head.path, method: head.method) {
        case .notFound:
            rejectKeepingFraming(connection, head, HTTPError(404, "no route for \(head.path)"))
            return
        case .methodNotAllowed(let allow):
            rejectKeepingFraming(
                connection, head, HTTPError(405, "method \(head.method) not allowed for \(head.path)"),
                extraHeaders: [(name: "Allow", value: allow)])
            return
        case .found(let route):
            connection.route = route
            connection.record?.routePath = route.path
        }
        if let length = head.contentLength, length > configuration.maxBodySize {
            reject(connection, HTTPError(413, "request body of \(length) bytes exceeds the limit of \(configuration.maxBodySize) bytes"))
            return
        }
        if let length = head.contentLength, length > context.bodyMemory.limit + BodyMemoryBudget.perConnectionAllowance {
            reject(connection, HTTPError(413, "request body of \(length) bytes exceeds the server's body memory of \(context.bodyMemory.limit) bytes"))
            return
        }
        connection.closeAfterResponse = !head.keepAlive
        connection.body = []
        connection.bodyFilled = nil
        connection.sentLargeBody = false
        let hasBody = head.hasBody, chunked = head.chunked, contentLength = head.contentLength
        let sendContinue = head.expectContinue && head.version == .http11
        // The head moves to the connection (a copy would retain each of its strings).
        connection.head = consume head
        guard hasBody else {
            dispatch(connection)
            return
        }
        connection.phase = .body
        if chunked {
            connection.chunkedDecoder = ChunkedDecoder()
        } else {
            let length = contentLength ?? 0
            connection.bodyRemaining = length
            connection.sentLargeBody = length >= Self.largeBody
            if length <= Self.wholeBodyLimit {
                // Allocated whole when its first bytes arrive (Connection.allocateWholeBody).
                connection.bodyFilled = 0
            } else {
                // Grown towards the declared length as bytes arrive, without trusting it up front.
                connection.body.reserveCapacity(Self.wholeBodyLimit)
            }
        }
        // Only ask for the body if the client is waiting for us to (nothing sent yet).
        if sendContinue && !connection.hasBufferedInput {
            enqueue(connection, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            flush(connection)
        }
    }

    /// Runs the route handler (as a Task; its response comes back through the inbox).
    private func dispatch(_ connection: Connection) {
        // The head moves into the request (no copy); deliver needs only its framing.
        guard connection.route != nil, let head = connection.head.take(), let route = connection.route else { return }
        let headRequest = head.method == "HEAD"
        connection.responseFraming = (http10: head.version == .http10, headRequest: headRequest)
        connection.phase = .handling
        connection.record?.requestBytes = connection.body.count
        let upgradeSettings = head.upgrade && configuration.http2.enabled && !draining ? h2cUpgradeSettings(head) : nil
        // The body moves into the request: the connection keeps no reference to it.
        var body: [UInt8] = []
        swap(&body, &connection.body)
        connection.bodyFilled = nil
        let request = ServerRequest(
            method: head.method, path: head.path, query: head.query, version: head.version.string,
            headers: HTTPHeaders(head.headers), body: body, peer: connection.peerDescription)
        if let settings = upgradeSettings {
            upgradeToHTTP2(connection, request, route: route, settings: settings, headRequest: headRequest)
            return
        }
        connection.handlingSince = now
        if let response = startHandler(route, consume request, connection: connection.id, stream: 0, task: &connection.handlerTask) {
            deliver(response, to: connection)
            return
        }
        updateInterest(connection)
    }

    /// Starts `route`'s handler for `request`. A built-in route, and a
    /// synchronous handler of an HTTP/1.1 request when handlers run on the
    /// loop, answer at once (the response is returned); any other runs as a
    /// Task on the configured executor and sends its response back to this loop.
    /// `task` receives the handler's task, to cancel it.
    func startHandler(
        _ route: Route, _ request: consuming ServerRequest, connection: UInt64, stream: Int32, task: inout Task<Void, Never>?
    ) -> ServerResponse? {
        if let inline = route.inlineHandler { return inline(request) }
        if stream == 0, canAnswerSynchronously(route) { return answerSynchronously(route, request) }
        task = startTask(route, request, connection: connection, stream: stream)
        return nil
    }

    /// Runs `route`'s handler for `request` as a Task and sends its response back to this loop.
    /// (Apart from ``startHandler(_:_:connection:stream:)``: inlined there, the
    /// capture of the request made every request a copy of it.)
    @inline(never)
    private func startTask(
        _ route: Route, _ request: consuming ServerRequest, connection: UInt64, stream: Int32
    ) -> Task<Void, Never> {
        let context = self.context
        let unixSocketPath = request.peer.hasPrefix("unix:") ? context.configuration.unixSocketPath : nil
        let handler = route.handler
        context.metrics.handlersInFlight.increment()
        let operation: @Sendable () async -> Void = { [self, request = consume request] in
            let response = await handler(request)
            context.metrics.handlersInFlight.decrement()
            if let dumper = context.dumper, dumper.shouldDump(response.status) {
                dumper.dump(request, response, unixSocketPath: unixSocketPath)
            }
            self.send(.response(connection: connection, stream: stream, response))
        }
        switch context.configuration.handlerExecution {
        case .eventLoop:
            return Task(executorPreference: executor, operation: operation)
        case .workerThreads:
            return Task(executorPreference: context.workerPool, operation: operation)
        case .cooperativePool, .automatic:   // HTTPServer resolves .automatic; never seen here
            return Task(operation: operation)
        }
    }

    /// Whether `route`'s requests are answered by calling its synchronous
    /// handler on this loop (``answerSynchronously(_:_:)``) rather than in a task.
    func canAnswerSynchronously(_ route: Route) -> Bool {
        route.synchronousHandler != nil && configuration.handlerExecution == .eventLoop
    }

    /// Runs `route`'s synchronous handler here and now; a failure is dumped as a task's would be.
    func answerSynchronously(_ route: Route, _ request: ServerRequest) -> ServerResponse {
        guard let synchronous = route.synchronousHandler else { preconditionFailure("the route has no synchronous handler") }
        let response = synchronous(request)
        if let dumper = context.dumper, dumper.shouldDump(response.status) {
            dumper.dump(
                request, response,
                unixSocketPath: request.peer.hasPrefix("unix:") ? context.configuration.unixSocketPath : nil)
        }
        return response
    }

    private func deliver(_ response: ServerResponse, to connection: Connection) {
        guard connection.phase == .handling else { return }
        connection.handlerTask = nil
        // The handler is done with the body.
        if connection.bodyReserved > 0 { releaseBodyMemory(connection) }
        let framing = connection.responseFraming
        var problems: [ResponseProblem] = []
        let fields = encodedFieldsCache.encode(response.headers, problems: &problems)
        let close = connection.closeAfterResponse || fields.asksClose || connection.peerClosed || draining
        connection.closeAfterResponse = close
        let (bytes, sendBody) = encodeResponseHead(
            response, fields: fields,
            framing: ResponseFraming(close: close, http10: framing.http10, headRequest: framing.headRequest),
            dateLine: dateCache.currentHeadLine(), problems: &problems)
        for problem in problems {
            switch problem {
            case .invalidStatus(let status):
                logger.error(
                    "handler returned invalid status \(status); sending 500",
                    metadata: ["path": "\(connection.record?.path ?? "")"])
            case .invalidHeader(let name):
                logger.error(
                    "handler returned an invalid header field; dropped it",
                    metadata: ["path": "\(connection.record?.path ?? "")", "header": "\(name)"])
            }
        }
        if var record = connection.record.take() {
            record.responseBytes = sendBody ? response.body.count : 0
            let status = (200...999).contains(response.status) ? response.status : 500
            requestAnswered(record, response: response, status: status, rejection: nil)
        }
        connection.phase = .responding
        connection.responseInFlight = true
        connection.resetRequest()
        enqueue(connection, bytes)
        if sendBody { enqueue(connection, response.body) }
        flush(connection)
    }

    /// Answers a bad request with a short text/plain error and closes the connection
    /// (unless `keepAlive`: the request was read whole and the client keeps the connection).
    func reject(
        _ connection: Connection, _ error: HTTPError, extraHeaders: [(name: String, value: String)] = [],
        headRequest: Bool = false, keepAlive: Bool = false, http10: Bool = false
    ) {
        releaseBodyMemory(connection)
        let close = !keepAlive || connection.peerClosed || draining
        var response = ServerResponse.text(error.status, error.message + "\n")
        response.headers.append(contentsOf: extraHeaders)
        var problems: [ResponseProblem] = []
        let (bytes, sendBody) = encodeResponseHead(
            response, fields: encodeHeaderFields(response.headers, problems: &problems),
            framing: ResponseFraming(close: close, http10: http10, headRequest: headRequest),
            dateLine: dateCache.currentHeadLine(), problems: &problems)
        var record = connection.record ?? RequestRecord(
            method: "", path: "", routePath: "unmatched", protocolName: "HTTP/1.1",
            peer: connection.peerDescription, startedAt: now)
        record.responseBytes = sendBody ? response.body.count : 0
        requestAnswered(record, response: response, status: error.status, rejection: error)
        connection.phase = .responding
        connection.responseInFlight = true
        connection.closeAfterResponse = close
        connection.resetRequest()
        if close {
            // Nothing more will be parsed; free the input now.
            connection.inbound = []
            connection.inboundStart = 0
            connection.scanResume = 0
        }
        enqueue(connection, bytes)
        if sendBody { enqueue(connection, response.body) }
        if close {
            flush(connection)
        } else {
            // Written from the next round: pipelined requests answered this way
            // one after another must not nest (flush, then the next request, then flush...).
            updateInterest(connection)
        }
    }

    /// Records an answered request: metrics, the failure line, the access log line.
    func requestAnswered(_ record: RequestRecord, response: ServerResponse, status: Int, rejection: HTTPError?) {
        let elapsed = now >= record.startedAt ? now - record.startedAt : 0
        let key = ServerMetrics.RequestKey(path: record.routePath, status: status, protocolName: record.protocolName)
        let instruments: ServerMetrics.RequestInstruments
        if let last = lastRequestInstruments, last.key == key {
            instruments = last
        } else {
            instruments = context.metrics.instruments(for: key)
            lastRequestInstruments = instruments
        }
        context.metrics.record(instruments, elapsed)
        if let rejection {
            var metadata: Logger.Metadata = [
                "peer": "\(record.peer)", "status": "\(rejection.status)", "cause": "\(rejection.message)",
            ]
            if !record.method.isEmpty {
                metadata["method"] = "\(record.method)"
                metadata["path"] = "\(record.path)"
                metadata["protocol"] = "\(record.protocolName)"
            }
            logger.notice("rejected request", metadata: metadata)
        } else if status >= 400 && record.routePath != healthRoute?.path {
            logger.log(
                level: status >= 500 ? .error : .warning, "request failed",
                metadata: [
                    "peer": "\(record.peer)", "protocol": "\(record.protocolName)", "method": "\(record.method)",
                    "path": "\(record.path)", "status": "\(status)", "cause": "\(response.failureCause)",
                ])
        }
        if configuration.accessLog {
            let micros = elapsed / 1000
            logger.info(
                "access",
                metadata: [
                    "peer": "\(record.peer)", "protocol": "\(record.protocolName)", "method": "\(record.method)",
                    "path": "\(record.path)", "status": "\(status)", "requestBytes": "\(record.requestBytes)",
                    "responseBytes": "\(record.responseBytes)",
                    "durationMs": "\(micros / 1000).\(String(micros % 1000).leftPaddedWithZeros(3))",
                ])
        }
    }

    // MARK: - HTTP/2

    /// The connection began with the HTTP/2 preface.
    private func startPriorKnowledgeHTTP2(_ connection: Connection) {
        guard let session = switchToHTTP2(connection, upgrade: nil) else { return }
        feedBufferedInput(connection, session)
    }

    /// Answers 101 to an `Upgrade: h2c` request and serves its response as
    /// stream 1 of the new HTTP/2 session (RFC 7540 §3.2).
    private func upgradeToHTTP2(
        _ connection: Connection, _ request: ServerRequest, route: Route, settings: [UInt8], headRequest: Bool
    ) {
        enqueue(connection, Array("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".utf8))
        var record = connection.record
        record?.protocolName = "HTTP/2"
        releaseBodyMemory(connection)
        connection.resetRequest()
        guard let session = switchToHTTP2(connection, upgrade: (settings, headRequest)) else { return }
        if let record { session.adoptUpgradedRequest(record) }
        var task: Task<Void, Never>?
        if let response = startHandler(route, request, connection: connection.id, stream: 1, task: &task) {
            session.handlerFinished(1, response)
        } else {
            session.adoptUpgradedHandlerTask(task)
        }
        feedBufferedInput(connection, session)
    }

    private func switchToHTTP2(
        _ connection: Connection, upgrade: (settings: [UInt8], headRequest: Bool)?
    ) -> HTTP2Session? {
        let session: HTTP2Session
        do {
            session = try HTTP2Session(connection: connection, loop: self, upgrade: upgrade)
        } catch {
            logger.error("cannot start HTTP/2 on a connection", metadata: ["peer": "\(connection.peerDescription)", "error": "\(error)"])
            closeConnection(connection)
            return nil
        }
        connection.http2 = session
        connection.phase = .http2
        connection.mayBePreface = false
        connection.headStartedAt = nil
        if draining { session.beginShutdown(now: now) }
        return session
    }

    /// Hands input read before the switch (the preface, frames) to nghttp2.
    private func feedBufferedInput(_ connection: Connection, _ session: HTTP2Session) {
        let pending = Array(connection.inbound[connection.inboundStart...])
        connection.inbound = []
        connection.inboundStart = 0
        connection.scanResume = 0
        pending.withUnsafeBytes { receiveHTTP2(connection, session, $0) }
    }

    /// Feeds input to nghttp2, answers the requests it completed whose
    /// handlers run synchronously, and writes. Their answers go out every
    /// ``jobsPerFlush`` handlers, so the client works on the first while the
    /// rest run (a client's streams arrive together).
    private func receiveHTTP2(_ connection: Connection, _ session: HTTP2Session, _ bytes: UnsafeRawBufferPointer) {
        guard session.receive(bytes) else {
            session.dropReadyRequests()
            failHTTP2(connection)
            return
        }
        while session.answerReadyRequests(limit: Self.jobsPerFlush) {
            flush(connection)
            if connection.isClosed {
                session.dropReadyRequests()
                return
            }
        }
        flush(connection)
    }

    /// nghttp2 gave up on the session: write what it queued (a GOAWAY) if the socket takes it, then close.
    private func failHTTP2(_ connection: Connection) {
        if let bytes = connection.http2?.produce(limit: 64 * 1024) { enqueue(connection, bytes) }
        _ = writeOutbound(connection)
        closeConnection(connection)
    }

    // MARK: - Writing

    func enqueue(_ connection: Connection, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if connection.outbound.isEmpty { connection.lastWriteProgress = now }
        connection.outbound.append(bytes)
        connection.outboundBytes += bytes.count
    }

    private enum WriteResult {
        case drained
        case blocked
        case failed
    }

    /// Writes queued output until it is all written or the socket is full.
    private func writeOutbound(_ connection: Connection) -> WriteResult {
        guard !connection.isClosed else { return .failed }
        while !connection.outbound.isEmpty {
            let offset = connection.outboundOffset
            let written: Int
            if connection.outbound.count >= 2 {
                written = connection.outbound[0].withUnsafeBytes { first in
                    connection.outbound[1].withUnsafeBytes { second in
                        cshim_send2(
                            connection.fd, first.baseAddress! + offset, first.count - offset,
                            second.baseAddress, second.count)
                    }
                }
            } else {
                written = connection.outbound[0].withUnsafeBytes { first in
                    cshim_send(connection.fd, first.baseAddress! + offset, first.count - offset)
                }
            }
            if written < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { return .blocked }
                logger.debug("write failed", metadata: ["peer": "\(connection.peerDescription)", "error": "\(errnoDescription(e))"])
                closeConnection(connection)
                return .failed
            }
            connection.lastWriteProgress = now
            connection.outboundBytes -= written
            if connection.outboundBytes == 0 {
                // All of it went (the common case): no element is looked at or shifted.
                connection.outbound.removeAll(keepingCapacity: true)
                connection.outboundOffset = 0
                break
            }
            var remaining = written + offset
            while remaining > 0, let first = connection.outbound.first, remaining >= first.count {
                remaining -= first.count
                connection.outbound.removeFirst()
            }
            connection.outboundOffset = remaining
        }
        return .drained
    }

    /// Writes as much queued output as the socket takes; registers for EPOLLOUT otherwise.
    /// On HTTP/2 connections, pulls frames from nghttp2 as the output drains.
    func flush(_ connection: Connection) {
        guard !connection.isClosed else { return }
        if connection.phase == .http2, let session = connection.http2 {
            session.replenishWindow()
            while true {
                if connection.outboundBytes < Self.http2HighWater {
                    guard let more = session.produce(limit: Self.http2HighWater - connection.outboundBytes) else {
                        closeConnection(connection)
                        return
                    }
                    enqueue(connection, more)
                }
                if connection.outbound.isEmpty { break }
                switch writeOutbound(connection) {
                case .failed: return
                case .blocked:
                    updateInterest(connection)
                    return
                case .drained: continue
                }
            }
            if session.isFinished || (connection.peerClosed && session.handlersRunning == 0) {
                startLingeringClose(connection)
            } else {
                updateInterest(connection)
            }
            return
        }
        if case .failed = writeOutbound(connection) { return }
        if connection.outbound.isEmpty && connection.responseInFlight && connection.phase == .responding {
            responseCompleted(connection)
        } else {
            updateInterest(connection)
        }
    }

    private func responseCompleted(_ connection: Connection) {
        connection.responseInFlight = false
        if connection.closeAfterResponse || connection.peerClosed || draining {
            startLingeringClose(connection)
            return
        }
        connection.phase = .head
        connection.lastActivity = now
        process(connection)  // pipelined requests already buffered
        if !connection.isClosed {
            connection.releaseIdleBuffers()
            updateInterest(connection)
        }
    }

    /// Shuts down our sending side and discards input until the client closes
    /// (or a short timeout), so the response is not destroyed by a TCP reset.
    private func startLingeringClose(_ connection: Connection) {
        if connection.peerClosed {
            closeConnection(connection)
            return
        }
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .lingering
        connection.inbound = []
        connection.inboundStart = 0
        connection.scanResume = 0
        connection.lingerDeadline = now + context.lingerTimeout
        if draining { connection.lingerDeadline = min(connection.lingerDeadline, drainDeadline) }
        updateInterest(connection)
    }

    private func discardLingeringInput(_ connection: Connection) {
        for _ in 0..<4 {
            let n = read(connection.fd, readBuffer.baseAddress, readBuffer.count)
            if n > 0 {
                if n < readBuffer.count { return }
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
                closeConnection(connection)
                return
            }
        }
    }

    /// Notes that the connection's epoll interest may have changed. The change is
    /// made once the round's events and handler jobs are done (``applyInterest()``):
    /// a request answered within the round leaves the interest where it was,
    /// and costs no `epoll_ctl` at all (epoll is level-triggered, so deferring loses nothing).
    func updateInterest(_ connection: Connection) {
        guard !connection.isClosed, !connection.interestPending else { return }
        connection.interestPending = true
        interestPending.append(connection)
    }

    /// Makes the interest changes noted this round.
    private func applyInterest() {
        guard !interestPending.isEmpty else { return }
        for connection in interestPending {
            connection.interestPending = false
            guard !connection.isClosed else { continue }
            var wanted: UInt32 = wantsRead(connection) ? EPOLLIN : 0
            // While a handler runs the connection is not read, but its closing is watched.
            if connection.phase == .handling && connection.handlerTask != nil && !connection.closeSeen { wanted |= EPOLLRDHUP }
            if !connection.outbound.isEmpty { wanted |= EPOLLOUT }
            if wanted != connection.interest {
                connection.interest = wanted
                _ = cshim_epoll_ctl(epollFD, cshim_epoll_ctl_mod(), connection.fd, wanted, connection.id)
            }
        }
        interestPending.removeAll(keepingCapacity: true)
    }

    func closeConnection(_ connection: Connection) {
        guard !connection.isClosed else { return }
        connection.isClosed = true
        connection.handlerTask.take()?.cancel()
        releaseBodyMemory(connection)
        connection.http2?.connectionClosed()
        close(connection.fd)  // also removes it from the epoll set
        connections[connection.id] = nil
        connection.outbound = []
        connection.outboundBytes = 0
        connection.inbound = []
        connection.body = []
        connection.bodyFilled = nil
        context.metrics.connectionsOpen.decrement()
    }

    // MARK: - Timeouts and shutdown

    private func sweep() {
        // A safety net for a wake-up missed between a failed reservation and a release.
        resumeMemoryWaiters()
        // Whether bodies wait for memory, as the sweep begins: every stalled body is
        // judged by it, not by what the connections shed before it in this sweep left.
        let underPressure = context.bodyMemory.underPressure
        for connection in Array(connections.values) where !connection.isClosed {
            switch connection.phase {
            case .head:
                if let started = connection.headStartedAt {
                    if now - started > context.headerTimeout {
                        reject(connection, HTTPError(408, "request head not received within \(configuration.headerTimeout)"))
                    }
                } else if now - connection.lastActivity > context.idleTimeout {
                    logger.debug("closing idle connection", metadata: ["peer": "\(connection.peerDescription)"])
                    closeConnection(connection)
                }
            case .body:
                if shedForMemory(connection, underPressure: underPressure) { break }
                if !connection.memoryBlocked && now - connection.lastActivity > context.idleTimeout {
                    reject(connection, HTTPError(408, "request body stalled for \(configuration.idleTimeout)"))
                }
            case .responding:
                if now - connection.lastWriteProgress > context.idleTimeout {
                    logger.notice(
                        "client stopped reading the response; closing",
                        metadata: ["peer": "\(connection.peerDescription)"])
                    closeConnection(connection)
                }
            case .lingering:
                if now >= connection.lingerDeadline { closeConnection(connection) }
            case .handling:
                cancelHandlerIfTimedOut(connection)
            case .http2:
                guard let session = connection.http2 else { break }
                if !connection.outbound.isEmpty && now - connection.lastWriteProgress > context.idleTimeout {
                    logger.notice(
                        "client stopped reading the response; closing",
                        metadata: ["peer": "\(connection.peerDescription)"])
                    closeConnection(connection)
                } else if session.streams.isEmpty && now - connection.lastActivity > context.idleTimeout {
                    logger.debug("closing idle HTTP/2 connection", metadata: ["peer": "\(connection.peerDescription)"])
                    session.closeIdle()
                    flush(connection)
                } else {
                    session.sweep(now: now)
                    flush(connection)
                }
            }
        }
    }

    private func beginDrain(deadline: UInt64) {
        if draining {
            drainDeadline = min(drainDeadline, deadline)
            return
        }
        draining = true
        drainDeadline = deadline
        // Connections the kernel has already established wait in the listeners' queues:
        // closing a listener would reset them, requests sent and all. Take them first,
        // so that the loop below serves what they sent (with Connection: close, or GOAWAY).
        for listener in listeners where listener.fd >= 0 { acceptConnections(listener) }
        closeListeners()
        for connection in Array(connections.values) where !connection.isClosed {
            switch connection.phase {
            case .head where connection.headStartedAt == nil && !connection.hasBufferedInput:
                // Idle keep-alive connection. A request may already wait in the socket: serve it (with
                // Connection: close) rather than reset it; close the connection if there is none.
                readable(connection)
                if connection.isClosed { continue }
                if connection.phase == .head && connection.headStartedAt == nil && !connection.hasBufferedInput {
                    closeConnection(connection)
                } else {
                    connection.closeAfterResponse = true
                }
            case .lingering:
                connection.lingerDeadline = min(connection.lingerDeadline, drainDeadline)
            case .http2:
                connection.http2?.beginShutdown(now: now)
                flush(connection)
            default:
                connection.closeAfterResponse = true
            }
        }
    }
}

extension String {
    fileprivate func leftPaddedWithZeros(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
