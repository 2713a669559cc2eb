import Glibc

/// Settings for an ``HTTPServer``: where it listens, how many event loops it
/// runs, and the limits and timeouts it enforces on clients.
public struct HTTPServerConfiguration: Sendable {
    /// The address to bind: an IPv4 or IPv6 literal or a resolvable host name.
    public var host: String
    /// The TCP port to bind; `0` lets the kernel pick an ephemeral port
    /// (read it back from ``HTTPServer/localPort``).
    public var port: Int
    /// The number of event-loop threads, each with its own listening socket.
    public var eventLoopCount: Int
    /// The largest request body accepted; larger bodies are answered with 413.
    public var maxBodySize: Int
    /// The largest request line plus header section accepted; larger heads are answered with 431.
    public var maxHeaderSize: Int
    /// How long a keep-alive connection may sit idle between requests before it is closed.
    public var idleTimeout: Duration
    /// How long a client may take to send a complete request head once it has started one
    /// (answered with 408 and closed when exceeded).
    public var headerTimeout: Duration
    /// How long in-flight requests may take to finish after ``HTTPServer/shutdown()``
    /// before their connections are closed regardless.
    public var shutdownGracePeriod: Duration
    /// The listen backlog of each listening socket.
    public var backlog: Int32

    /// Creates a configuration; every parameter has a production-ready default.
    public init(
        host: String = "0.0.0.0",
        port: Int = 8000,
        eventLoopCount: Int = HTTPServerConfiguration.onlineProcessorCount,
        maxBodySize: Int = 32 * 1024 * 1024,
        maxHeaderSize: Int = 16 * 1024,
        idleTimeout: Duration = .seconds(60),
        headerTimeout: Duration = .seconds(30),
        shutdownGracePeriod: Duration = .seconds(30),
        backlog: Int32 = 4096
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
    }

    /// The number of online CPUs (at least 1): the default ``eventLoopCount``.
    public static var onlineProcessorCount: Int {
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return count > 0 ? count : 1
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
