import CLinuxShims
import Glibc
public import Logging
import Synchronization

/// A small HTTP/1.1 server built directly on epoll: one thread per event loop,
/// each with its own `SO_REUSEPORT` listening socket, and route handlers run as
/// Swift tasks. It knows nothing about Stateful Functions.
///
/// ```swift
/// let server = HTTPServer(configuration: .init(port: 8000), routes: [
///     Route(path: "/statefun") { request in ServerResponse(status: 200, body: request.body) }
/// ])
/// try await server.run()   // until SIGINT/SIGTERM
/// ```
public final class HTTPServer: Sendable {
    private enum State {
        case idle
        case running([EventLoop], port: Int)
        case stopping([EventLoop], port: Int)
        case stopped(port: Int)
    }

    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    private let context: ServerContext
    private let state = Mutex(State.idle)

    /// Creates a server; nothing is bound until ``start()`` or ``run()``.
    public init(
        configuration: HTTPServerConfiguration, routes: [Route],
        logger: Logger = Logger(label: "statefun.server")
    ) {
        self.configuration = configuration
        self.context = ServerContext(configuration: configuration, routes: RouteTable(routes), logger: logger)
    }

    /// The port the server is bound to (the kernel's choice when configured with
    /// port 0), or 0 before ``start()``.
    public var localPort: Int {
        state.withLock { state in
            switch state {
            case .idle: 0
            case .running(_, let port), .stopping(_, let port), .stopped(let port): port
            }
        }
    }

    /// Binds the listening sockets and starts the event-loop threads; returns
    /// once the server accepts connections.
    ///
    /// - Throws: ``HTTPServerError`` if the address is in use or cannot be
    ///   resolved, if a system call fails, or if the server was started before.
    public func start() throws {
        let configuration = self.configuration
        let context = self.context
        try state.withLock { state throws(HTTPServerError) in
            guard case .idle = state else {
                throw HTTPServerError(.alreadyStarted, "the server was already started (or shut down)")
            }
            cshim_ignore_sigpipe()
            raiseFileDescriptorLimit()

            var address = try SocketAddress.resolve(host: configuration.host, port: configuration.port)
            // Probe without SO_REUSEPORT: it fails if *any* socket holds the port
            // (a SO_REUSEPORT bind would silently share it with another server of
            // the same user), and it makes the kernel pick the port for port 0.
            let probe = try makeBoundSocket(address, reusePort: false, listenBacklog: nil)
            address.port = boundAddress(probe)?.port ?? configuration.port
            close(probe)

            let loopCount = max(1, configuration.eventLoopCount)
            var loops: [EventLoop] = []
            do throws(HTTPServerError) {
                for index in 0..<loopCount {
                    let fd = try makeBoundSocket(address, reusePort: true, listenBacklog: configuration.backlog)
                    do throws(HTTPServerError) {
                        loops.append(try EventLoop(index: index, context: context, listenFD: fd))
                    } catch {
                        close(fd)
                        throw error
                    }
                }
            } catch {
                for loop in loops { loop.closeUnstarted() }
                throw error
            }

            context.lifecycle.loopsStarting(loops.count)
            for (index, loop) in loops.enumerated() {
                do throws(HTTPServerError) {
                    try spawnThread(name: "http-loop-\(index)") { loop.run() }
                } catch {
                    // Stop the loops already running; release the rest.
                    let deadline = monotonicNanos()
                    for started in loops[..<index] { started.send(.shutdown(deadline: deadline)) }
                    for unstarted in loops[index...] {
                        unstarted.closeUnstarted()
                        context.lifecycle.loopExited()
                    }
                    state = .stopped(port: address.port)
                    throw error
                }
            }
            state = .running(loops, port: address.port)
            context.logger.info(
                "HTTP server listening",
                metadata: ["address": "\(address.description)", "eventLoops": "\(loops.count)"])
        }
    }

    /// Starts a graceful shutdown with the configured ``HTTPServerConfiguration/shutdownGracePeriod``:
    /// listeners close at once, idle connections are closed, in-flight requests
    /// finish and get their responses, then the loops stop. Returns immediately;
    /// use ``waitUntilStopped()`` to wait.
    public func shutdown() {
        shutdown(gracePeriod: configuration.shutdownGracePeriod)
    }

    /// Starts a graceful shutdown that force-closes whatever is unfinished after
    /// `gracePeriod`. Calling it again can shorten, never extend, the deadline.
    public func shutdown(gracePeriod: Duration) {
        let loops = state.withLock { state -> [EventLoop] in
            switch state {
            case .idle:
                state = .stopped(port: 0)
                return []
            case .running(let loops, let port):
                state = .stopping(loops, port: port)
                return loops
            case .stopping(let loops, _):
                return loops
            case .stopped:
                return []
            }
        }
        guard !loops.isEmpty else { return }
        context.logger.info("HTTP server shutting down", metadata: ["gracePeriod": "\(gracePeriod)"])
        let deadline = monotonicNanos() &+ gracePeriod.clampedNanoseconds
        for loop in loops { loop.send(.shutdown(deadline: deadline)) }
    }

    /// Returns once every event loop has exited (immediately if the server
    /// never started). Cancelling the waiting task does not end the wait.
    public func waitUntilStopped() async {
        await context.lifecycle.wait()
    }

    /// Starts the server, shuts it down gracefully on SIGINT or SIGTERM (a
    /// second signal shortens the grace period to zero) or when the calling task
    /// is cancelled, and returns once it has stopped, so the process can then exit normally.
    public func run() async throws {
        let logger = context.logger
        let signalCount = Atomic<Int>(0)
        let subscription = try terminationSignals.subscribe { [self] in
            let count = signalCount.add(1, ordering: .relaxed).newValue
            if count == 1 {
                logger.notice("termination signal received; shutting down gracefully")
                self.shutdown()
            } else {
                logger.notice("second termination signal received; closing all connections now")
                self.shutdown(gracePeriod: .zero)
            }
        }
        do {
            try start()
        } catch {
            terminationSignals.unsubscribe(subscription)
            throw error
        }
        await withTaskCancellationHandler {
            await waitUntilStopped()
        } onCancel: {
            self.shutdown()
        }
        terminationSignals.unsubscribe(subscription)
        logger.info("HTTP server stopped")
    }
}
