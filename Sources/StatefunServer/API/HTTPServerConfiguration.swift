
/// Settings for an ``HTTPServer``: where it listens, how many event loops it
/// runs, the protocols it speaks, the limits and timeouts it enforces on
/// clients, where handlers run, and what it logs and records.
public struct HTTPServerConfiguration: Sendable {
    /// The address to bind: an IPv4 or IPv6 literal or a resolvable host name.
    public var host: String
    /// The TCP port to bind; `0` lets the kernel pick an ephemeral port
    /// (read it back from ``HTTPServer/localPort``).
    public var port: Int
    /// Whether to listen on TCP at ``host``:``port``. Set it to `false` to serve
    /// only on ``unixSocketPath``.
    public var tcpEnabled: Bool
    /// A Unix domain socket to listen on as well as (or, without TCP, instead of)
    /// the TCP port, for the runtime's `http+unix:///path/to.sock/url/path` endpoints.
    /// A stale socket file left by a crashed run is replaced; a live one (another
    /// server answers on it) or a file that is not a socket is an error. The file
    /// is removed when the server shuts down.
    public var unixSocketPath: String?
    /// The permission bits of the socket file (clients need write permission to connect).
    public var unixSocketPermissions: Int
    /// The number of event-loop threads, each with its own listening socket.
    /// 0 (the default): one per CPU the process may use, counted when the
    /// server starts (``ProcessorCount/available()``: the affinity mask and
    /// the cgroup's CPU quota); the start-up line says how many and why.
    public var eventLoopCount: Int
    /// How long a request's handler may run before its task is cancelled
    /// (`Task.isCancelled` becomes true inside it); `nil` (the default): no limit.
    /// Cancellation is cooperative: the client gets what the handler answers
    /// once it returns. A handler's task is also cancelled when the client
    /// closes the connection (or resets the HTTP/2 stream) while it runs.
    public var requestTimeout: Duration? = nil
    /// The largest request body accepted; larger bodies are answered with 413.
    public var maxBodySize: Int
    /// The most memory request bodies may take in the whole server: every
    /// connection and HTTP/2 stream together, on every event loop, bodies being
    /// received and bodies their handlers still hold. Beyond it, HTTP/1.1
    /// connections are not read and HTTP/2 streams get no flow-control window
    /// until memory is released; a body that waits longer than
    /// ``bodyMemoryWait`` is answered 503 with `Retry-After`, and one declared
    /// larger than the whole bound 413. Each connection receives its first 64 KiB
    /// of body outside the bound, so small requests pass however full it is.
    /// A quarter of what the process may use by default: the cgroup's
    /// `memory.max` where one is set, else physical memory.
    public var maxBodyMemory: Int = HTTPServerConfiguration.defaultMaxBodyMemory
    /// How long a request body may wait for memory (or, while others wait,
    /// hold memory without making progress) before it is answered 503 with
    /// `Retry-After` (see ``maxBodyMemory``).
    public var bodyMemoryWait: Duration = .seconds(5)
    /// The largest request line plus header section accepted; larger heads are
    /// answered with 431. Also the HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`.
    public var maxHeaderSize: Int
    /// How long a keep-alive connection may sit idle between requests before it is closed.
    /// Also how long a request body may stall (408), and how long an HTTP/2 stream
    /// may make no progress (408 while its request is unfinished, else `RST_STREAM`),
    /// however busy the client keeps the connection otherwise.
    public var idleTimeout: Duration
    /// How long a client may take to send a complete request head once it has started one
    /// (answered with 408 and closed when exceeded).
    public var headerTimeout: Duration
    /// How long in-flight requests may take to finish after ``HTTPServer/shutdown()``
    /// before their connections are closed regardless.
    public var shutdownGracePeriod: Duration
    /// How long a graceful shutdown (SIGTERM, or a `ServiceGroup`'s graceful
    /// shutdown) keeps serving, with `/healthz` answering 503, before it stops
    /// accepting connections. Gives a load balancer (a Kubernetes Service) time
    /// to take the instance out of rotation. Zero by default.
    public var shutdownDelay: Duration
    /// The listen backlog of each listening socket.
    public var backlog: Int32
    /// HTTP/2 (h2c) settings.
    public var http2: HTTP2Configuration
    /// Where route handlers run (see ``HandlerExecution``).
    public var handlerExecution: HandlerExecution
    /// The path the server itself answers `GET`/`HEAD` on with 200 while it is
    /// ready and 503 once it is shutting down (`nil`: no health endpoint). A
    /// route registered at the same path takes precedence.
    public var healthCheckPath: String?
    /// Log one `info` line per request answered (method, path, status, sizes, duration).
    public var accessLog: Bool
    /// Tune glibc's allocator for request-sized buffers when the server starts
    /// (process-wide): buffers up to 4 MiB stay in the heap instead of being
    /// mapped and unmapped per request, and up to 16 MiB of freed memory is kept
    /// for reuse. Saves the page faults that otherwise dominate large requests.
    public var tuneAllocator = true
    /// Write the requests that handlers answer with a failure status to a
    /// directory, to replay them later (`nil`: off).
    public var failedRequestDump: FailedRequestDumpConfiguration?

    /// Creates a configuration; every parameter has a production-ready default.
    public init(
        host: String = "0.0.0.0",
        port: Int = 8000,
        eventLoopCount: Int = 0,
        maxBodySize: Int = 32 * 1024 * 1024,
        maxHeaderSize: Int = 16 * 1024,
        idleTimeout: Duration = .seconds(60),
        headerTimeout: Duration = .seconds(30),
        shutdownGracePeriod: Duration = .seconds(30),
        backlog: Int32 = 4096,
        tcpEnabled: Bool = true,
        unixSocketPath: String? = nil,
        unixSocketPermissions: Int = 0o660,
        shutdownDelay: Duration = .zero,
        http2: HTTP2Configuration = HTTP2Configuration(),
        handlerExecution: HandlerExecution = .automatic,
        healthCheckPath: String? = "/healthz",
        accessLog: Bool = false,
        failedRequestDump: FailedRequestDumpConfiguration? = nil
    ) {
        self.host = host
        self.port = port
        self.eventLoopCount = eventLoopCount
        self.maxBodySize = maxBodySize
        self.maxHeaderSize = maxHeaderSize
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.shutdownGracePeriod = shutdownGracePeriod
        self.backlog = backlog
        self.tcpEnabled = tcpEnabled
        self.unixSocketPath = unixSocketPath
        self.unixSocketPermissions = unixSocketPermissions
        self.shutdownDelay = shutdownDelay
        self.http2 = http2
        self.handlerExecution = handlerExecution
        self.healthCheckPath = healthCheckPath
        self.accessLog = accessLog
        self.failedRequestDump = failedRequestDump
    }

    /// A quarter of the memory the process may use: the cgroup v2 `memory.max`
    /// (`/sys/fs/cgroup/memory.max`) where one is set, else physical memory.
    /// The default ``maxBodyMemory``.
    public static var defaultMaxBodyMemory: Int { BodyMemoryBudget.defaultLimit }

    /// The number of online CPUs (at least 1), whether or not the process may
    /// use them all (see ``ProcessorCount/available()`` for those it may).
    public static var onlineProcessorCount: Int {
        SystemInfo.onlineProcessors
    }
}

/// HTTP/2 over cleartext (h2c): detected on the same port as HTTP/1.1 from the
/// client's connection preface ("prior knowledge"), or reached from HTTP/1.1
/// with `Upgrade: h2c`.
public struct HTTP2Configuration: Sendable {
    /// Whether HTTP/2 is served at all. Without it the preface is answered 505.
    public var enabled: Bool
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: requests one connection may have open
    /// at once; more are refused with `RST_STREAM`.
    public var maxConcurrentStreams: Int
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: how many body bytes a client may send on
    /// one stream before it needs a `WINDOW_UPDATE`. The default (32 MiB, the
    /// body limit) lets a request of the largest allowed size arrive without waiting.
    public var initialStreamWindowSize: Int
    /// The connection-level receive window shared by all streams of a connection.
    public var connectionWindowSize: Int
    /// `SETTINGS_MAX_FRAME_SIZE`: the largest frame payload the server accepts
    /// (16 KiB ... 16 MiB - 1); larger frames are a `FRAME_SIZE_ERROR`.
    public var maxFrameSize: Int

    /// Creates HTTP/2 settings.
    public init(
        enabled: Bool = true,
        maxConcurrentStreams: Int = 256,
        initialStreamWindowSize: Int = 32 * 1024 * 1024,
        connectionWindowSize: Int = 64 * 1024 * 1024,
        maxFrameSize: Int = 64 * 1024
    ) {
        self.enabled = enabled
        self.maxConcurrentStreams = maxConcurrentStreams
        self.initialStreamWindowSize = initialStreamWindowSize
        self.connectionWindowSize = connectionWindowSize
        self.maxFrameSize = maxFrameSize
    }
}

/// Where route handlers run.
public enum HandlerExecution: Sendable, Equatable {
    /// The default: ``eventLoop`` under `StatefunService` (whose functions
    /// compute and `await` but do not block), ``cooperativePool`` for a plain
    /// ``HTTPServer``, whose handlers may be anything. ``HTTPServer`` resolves
    /// it when it is created (``HTTPServer/configuration`` holds the resolved value).
    case automatic
    /// Each request's handler is a task on the event loop that read the
    /// request, run between two rounds of I/O: a request is read, handled and
    /// answered on one thread, with no hand-over. The fastest, and right for
    /// handlers that compute and `await` but never block their thread: while a
    /// handler runs, the other connections of its loop wait. A handler that
    /// awaits work elsewhere (an actor, I/O) resumes on its loop. What
    /// `StatefunService` uses unless told otherwise.
    case eventLoop
    /// Each request's handler is a task on Swift's global concurrent executor
    /// (one thread per core): the loops only read, parse and write. Costs a
    /// hand-over between threads per request. What a plain ``HTTPServer``
    /// uses unless told otherwise: its handlers may be anything.
    case cooperativePool
    /// Each request's handler is a task that prefers a dedicated pool of this
    /// many threads (a `TaskExecutor`). Right for handlers that block their
    /// thread (synchronous I/O, locks, long computations): they occupy a pool
    /// thread, never an event loop or one of the few threads all of Swift concurrency shares.
    case workerThreads(Int)
}

/// Where and what the server dumps about failed requests.
///
/// For each request a route handler answers with one of ``statuses``, two
/// files are written to ``directory``: `<name>.body` (the request body, byte
/// for byte) and `<name>.txt` (time, status, cause, method, path, peer,
/// headers, and a `curl` command that replays the request). Requests the
/// server rejects before a handler runs (malformed, too large) are not dumped.
public struct FailedRequestDumpConfiguration: Sendable {
    /// The directory the files go to; created if missing.
    public var directory: String
    /// The statuses that trigger a dump; 400 and 500 by default.
    public var statuses: Set<Int>
    /// The most requests dumped by one server, so a failure storm cannot fill the disk.
    public var maxRequests: Int
    /// The most body bytes dumped by one server; requests beyond are not written.
    public var maxTotalBytes: Int

    /// Creates a dump configuration.
    public init(
        directory: String, statuses: Set<Int> = [400, 500], maxRequests: Int = 1000,
        maxTotalBytes: Int = 1 << 30
    ) {
        self.directory = directory
        self.statuses = statuses
        self.maxRequests = maxRequests
        self.maxTotalBytes = maxTotalBytes
    }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `0...UInt64.max / 2`.
    var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        if seconds >= 4_000_000_000 { return UInt64.max / 2 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
