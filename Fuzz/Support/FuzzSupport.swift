// What the fuzz targets share: running async code from the synchronous
// libFuzzer entry point, and a real HTTPServer (one event loop, on a Unix
// socket) that a target talks to over a socket, in chunks.
import CFuzzer
import Dispatch
import Glibc
import Logging
public import StatefunServer

/// Hands control to libFuzzer, which calls `callback` with each input.
public func runFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    cfuzzer_set_callback(callback)
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}

/// Runs `body` to completion and returns its result; blocks the calling thread.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = BlockingBox<T>()
    Task {
        box.value = await body()
        box.done.signal()
    }
    box.done.wait()
    return box.value!
}

/// The result of ``runBlocking(_:)``: written by the task before it signals, read after the wait.
private final class BlockingBox<T>: @unchecked Sendable {
    var value: T?
    let done = DispatchSemaphore(value: 0)
}

/// The routes the server targets serve: an echo, a 204, a 500 and the health check.
public let fuzzRoutes: [Route] = [
    Route(path: "/statefun", methods: ["POST"]) { request in
        ServerResponse(status: 200, headers: [(name: "Content-Type", value: "application/octet-stream")], body: request.body)
    },
    Route(path: "/echo", methods: ["GET", "HEAD", "POST", "PUT"]) { request in
        var text = "\(request.method) \(request.path)?\(request.query ?? "")\n"
        for (name, value) in request.headers { text += "\(name): \(value)\n" }
        return ServerResponse(status: 200, headers: [], body: Array(text.utf8) + request.body)
    },
    Route(path: "/empty", methods: ["GET", "POST"]) { _ in ServerResponse(status: 204, headers: [], body: []) },
    Route(path: "/fail", methods: ["POST"]) { _ in .text(500, "failed\n") },
]

/// A server on a Unix socket of this process, started on first use.
public final class FuzzServer: Sendable {
    public let path: String
    private let server: HTTPServer

    public init(routes: [Route] = fuzzRoutes) {
        path = "/tmp/statefun-fuzz-\(getpid()).sock"
        var logger = Logger(label: "statefun.fuzz")
        logger.logLevel = .critical
        let configuration = HTTPServerConfiguration(
            eventLoopCount: 1, maxBodySize: 32 * 1024, maxHeaderSize: 4096,
            idleTimeout: .seconds(2), headerTimeout: .seconds(2), shutdownGracePeriod: .seconds(1),
            tcpEnabled: false, unixSocketPath: path, accessLog: false)
        server = HTTPServer(configuration: configuration, routes: routes, logger: logger)
        do {
            try server.start()
        } catch {
            fatalError("cannot start the fuzz server: \(error)")
        }
    }

    /// Connects, writes `chunks` one by one (each waits until the server has read
    /// the one before, so the server sees the same split), half-closes, and reads
    /// until the server closes. A server that keeps the connection open for 10 s
    /// after that is a hang: the process aborts.
    public func exchange(_ chunks: [[UInt8]]) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        precondition(fd >= 0, "socket: \(errno)")
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        precondition(connected == 0, "connect: \(errno)")
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)

        let start = Self.nanos()
        defer {
            if Self.reportSlow, Self.nanos() - start > 50_000_000 {
                let head = String(decoding: chunks.joined().prefix(60), as: UTF8.self).debugDescription
                let line = "slow exchange: \((Self.nanos() - start) / 1_000_000) ms, \(chunks.count) chunks: \(head)\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
            }
        }
        var sink = [UInt8](repeating: 0, count: 64 * 1024)
        var index = 0
        var offset = 0
        var writing = true
        var chunkSentAt: UInt64?

        func drain() -> Bool {  // false at EOF or error
            while true {
                let n = sink.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 { continue }
                if n == 0 { return false }
                return errno == EAGAIN || errno == EINTR
            }
        }

        while true {
            if Self.nanos() - start > 10_000_000_000 {
                fatalError("hang: the server kept the connection open 10 s (chunk \(index) of \(chunks.count))")
            }
            if writing {
                if let sentAt = chunkSentAt {
                    // Wait (briefly) until the server has read the previous chunk.
                    var pending: Int32 = 0
                    if ioctl(fd, UInt(TIOCOUTQ), &pending) == 0, pending > 0, Self.nanos() - sentAt < 2_000_000 {
                        if !drain() { return }
                        usleep(5)
                        continue
                    }
                    chunkSentAt = nil
                }
                if index == chunks.count {
                    shutdown(fd, Int32(SHUT_WR))
                    writing = false
                    continue
                }
                let chunk = chunks[index]
                let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if n > 0 {
                    offset += n
                    if offset == chunk.count {
                        index += 1
                        offset = 0
                        chunkSentAt = Self.nanos()
                    }
                } else if n < 0 && errno != EAGAIN && errno != EINTR {
                    writing = false  // EPIPE, ECONNRESET: the server closed; read what it sent
                }
            }
            if !drain() { return }
            var entry = pollfd(fd: fd, events: Int16(POLLIN) | (writing ? Int16(POLLOUT) : 0), revents: 0)
            _ = poll(&entry, 1, 10)
        }
    }

    /// Splits `bytes` into chunks: `mode` 0 sends everything at once, other modes
    /// choose pseudo-random chunk sizes up to a bound that `mode` also picks.
    public static func chunks(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, mode: UInt8) -> [[UInt8]] {
        if mode == 0 || bytes.isEmpty { return [Array(bytes)] }
        let bounds = [1, 2, 3, 7, 16, 64, 512, 4096]
        let bound = bounds[Int(mode & 7)]
        var state = UInt32(mode) &* 2_654_435_761 | 1
        var result: [[UInt8]] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            let size = 1 + Int(state % UInt32(bound))
            let end = min(bytes.endIndex, i + size)
            result.append(Array(bytes[i..<end]))
            i = end
        }
        return result
    }

    /// FUZZ_REPORT_SLOW=1: exchanges over 50 ms are reported on stderr.
    private static let reportSlow = getenv("FUZZ_REPORT_SLOW") != nil

    private static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
