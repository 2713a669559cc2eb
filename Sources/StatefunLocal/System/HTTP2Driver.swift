import Foundation
import StatefunSystem

/// A request's stream, as the connection's thread sees it.
final class HTTP2ClientStream {
    let request: HTTP2Request
    let deadline: ContinuousClock.Instant
    var bodyOffset = 0
    var status: Int?
    var contentType: String?
    var response: [UInt8] = []

    init(_ request: HTTP2Request, deadline: ContinuousClock.Instant) {
        self.request = request
        self.deadline = deadline
    }
}

/// Drives one connection's nghttp2 session on the connection's own thread.
final class HTTP2Driver {
    let connection: HTTP2Connection
    var session: NGHTTP2Session?
    var fd: Int32 = -1
    var streams: [Int32: HTTP2ClientStream] = [:]
    var output: [UInt8] = []
    var outputOffset = 0
    var goawayReceived = false
    /// Why the connection ended, for the requests it fails.
    var failure: LocalRuntimeError?
    var receivedAnything = false
    let clock = ContinuousClock()

    init(connection: HTTP2Connection) {
        self.connection = connection
    }

    var endpointName: String {
        switch connection.transport {
        case let .tcp(host, port): return "\(host):\(port)"
        case let .unix(path): return path
        }
    }

    func run() {
        do {
            fd = try connectSocket(connection.transport, timeout: connection.timeout)
            Posix.setNonBlocking(fd)
            try startSession()
            try loop()
        } catch let error as LocalRuntimeError {
            failure = error
        } catch {
            failure = .connection("\(error)")
        }
        finish()
    }

    private func startSession() throws {
        let window = 16 << 20
        do {
            // Until the server's SETTINGS arrive, assume the 100 concurrent streams RFC 9113 recommends
            // at least (nghttp2 would assume no limit). Streams a lower limit refuses are retried.
            let created = try NGHTTP2Session(
                .client, delegate: self, options: NGHTTP2Session.Options(peerMaxConcurrentStreams: 100),
                settings: [.enablePush(false), .initialWindowSize(window)])
            session = created
            let rc = created.setLocalWindowSize(window)
            guard rc == 0 else {
                throw LocalRuntimeError.connection("cannot start the HTTP/2 session: \(NGHTTP2Session.describe(rc))")
            }
        } catch let error as NGHTTP2Error {
            throw LocalRuntimeError.connection(error.description)
        }
    }

    private func loop() throws {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            drainWakePipe()
            let (requests, stop) = connection.shared.withLock { state in
                defer { state.queued = [] }
                return (state.queued, state.stopRequested)
            }
            if stop { throw LocalRuntimeError.connection("the client was closed") }
            for request in requests { try submitRequest(request) }
            expireStreams()

            try flush()
            if goawayReceived && streams.isEmpty && outputOffset == output.count {
                throw LocalRuntimeError.connection("the endpoint sent GOAWAY")
            }
            if session?.isFinished ?? true && outputOffset == output.count {
                throw LocalRuntimeError.connection("the HTTP/2 session ended")
            }

            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN) | (outputOffset < output.count ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: connection.wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let rc = poll(&fds, 2, pollTimeout())
            if rc < 0 {
                let code = errno
                if code == EINTR { continue }
                throw connectionError("poll", code)
            }
            if fds[0].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                try readAvailable(&buffer)
            }
        }
    }

    /// Reads what the socket has and feeds it to nghttp2.
    private func readAvailable(_ buffer: inout [UInt8]) throws {
        while true {
            let result = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try Posix.read(fd, into: raw) }
            }
            let n: Int
            switch result {
            case .success(.processed(let count)): n = count
            case .success(.wouldBlock): return
            case .failure(let error): throw connectionError("recv", error.code)
            }
            if n == 0 { throw LocalRuntimeError.connection("connection closed by the endpoint") }
            if !receivedAnything && buffer.starts(with: "HTTP/1.".utf8) {
                // Retrying cannot help: fail the job with what the endpoint said.
                let line = String(decoding: buffer[..<n].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
                throw LocalRuntimeError.jobFailed(
                    "\(endpointName) answered the HTTP/2 preface in HTTP/1.1 (\(line)): it does not speak HTTP/2 "
                        + "with prior knowledge; drop --h2c, or write its URL with http:// rather than h2c://")
            }
            receivedAnything = true
            if let rc = session?.receive(buffer.span.bytes.extracting(first: n)) {
                throw LocalRuntimeError.connection("HTTP/2 protocol error: \(NGHTTP2Session.describe(rc))")
            }
            if n < buffer.count { return }
        }
    }

    /// Serializes what nghttp2 has queued and writes as much as the socket takes.
    private func flush() throws {
        while true {
            if outputOffset == output.count {
                output.removeAll(keepingCapacity: true)
                outputOffset = 0
                if let rc = session?.send(into: &output, limit: 256 * 1024) {
                    throw LocalRuntimeError.connection("HTTP/2 error: \(NGHTTP2Session.describe(rc))")
                }
                if output.isEmpty { return }
            }
            let result = output.withUnsafeBytes { raw in
                Result { () throws(SystemError) in try Posix.send(fd, UnsafeRawBufferPointer(rebasing: raw[outputOffset...])) }
            }
            switch result {
            case .success(.processed(let n)): outputOffset += n
            case .success(.wouldBlock): return
            case .failure(let error): throw connectionError("send", error.code)
            }
        }
    }

    private func submitRequest(_ request: HTTP2Request) throws {
        let fields: [(name: String, value: String)] = [
            (":method", "POST"), (":scheme", "http"), (":authority", request.authority), (":path", request.path),
            ("content-type", "application/octet-stream"), ("accept", "application/octet-stream"),
            ("user-agent", "statefun-local"), ("content-length", String(request.body.count)),
        ]
        let stream = HTTP2ClientStream(request, deadline: clock.now + connection.timeout)
        let id = session?.submitRequest(fields: fields, withBody: !request.body.isEmpty) ?? -1
        guard id > 0 else {
            request.continuation.resume(
                throwing: LocalRuntimeError.connection("cannot start an HTTP/2 stream: \(NGHTTP2Session.describe(id))"))
            return
        }
        streams[id] = stream
    }

    /// Fails (and resets) the streams past their deadline, as a read timeout would.
    private func expireStreams() {
        let now = clock.now
        for (id, stream) in streams where stream.deadline <= now {
            streams[id] = nil
            session?.submitReset(stream: id, errorCode: 0x8)  // CANCEL
            stream.request.continuation.resume(
                throwing: LocalRuntimeError.connection("no response from \(endpointName) within \(connection.timeout)"))
        }
    }

    private func pollTimeout() -> Int32 {
        guard let next = streams.values.map(\.deadline).min() else { return 1000 }
        let left = clock.now.duration(to: next)
        let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
        return Int32(max(0, min(ms, 1000)))
    }

    private func drainWakePipe() {
        var bytes = [UInt8](repeating: 0, count: 256)
        while read(connection.wakeRead, &bytes, bytes.count) > 0 {}
    }

    /// The connection is over: it takes no more requests, and what it held fails.
    private func finish() {
        let queued = connection.shared.withLock { state in
            state.closedToRequests = true
            defer { state.queued = [] }
            return state.queued
        }
        let reason = failure ?? .connection("the HTTP/2 connection ended")
        for request in queued { request.continuation.resume(throwing: reason) }
        let open = streams
        streams = [:]
        for stream in open.values { stream.request.continuation.resume(throwing: reason) }
        session = nil
        if fd >= 0 { Posix.close(fd) }
        fd = -1
    }
}
