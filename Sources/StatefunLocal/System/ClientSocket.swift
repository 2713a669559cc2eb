import Glibc
import StatefunSystem

// The blocking sockets of the HTTP/1.1 client (and the connect of the HTTP/2
// one): the socket calls of statefun-local's clients, through StatefunSystem's
// syscall wrapper and errno helper (the server's own).

/// A connection error naming the call that failed: `recv: Connection reset by peer (errno 104)`.
func connectionError(_ call: String, _ code: Int32) -> LocalRuntimeError {
    .connection("\(call): \(errnoDescription(code))")
}

/// A connected stream socket to `transport`, with `timeout` for blocking sends and receives.
func connectSocket(_ transport: EndpointURL.Transport, timeout: Duration) throws -> Int32 {
    switch transport {
    case let .unix(path):
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw connectionError("socket", errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Posix.close(fd)
            throw LocalRuntimeError.configuration("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        // Not retried on EINTR: the connection goes on being made meanwhile.
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Posix.close(fd)
            throw connectionError("connect \(path)", code)
        }
        applyTimeout(fd, timeout)
        return fd
    case let .tcp(host, port):
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw LocalRuntimeError.connection("cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        var lastError = "no address"
        while let info = candidate {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 {
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    Posix.setNoDelay(fd)
                    applyTimeout(fd, timeout)
                    return fd
                }
                lastError = errnoDescription(errno)
                Posix.close(fd)
            }
            candidate = info.pointee.ai_next
        }
        throw LocalRuntimeError.connection("connect \(host):\(port): \(lastError)")
    }
}

private func applyTimeout(_ fd: Int32, _ timeout: Duration) {
    let (seconds, attoseconds) = timeout.components
    var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
}

/// Writes all of `bytes` to the blocking socket `fd`.
func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var sent = 0
    while sent < bytes.count {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SystemError) in try Posix.send(fd, UnsafeRawBufferPointer(rebasing: raw[sent...])) }
        }
        switch result {
        case .success(.processed(let n)): sent += n
        // The send timeout ran out.
        case .success(.wouldBlock): throw connectionError("send", EAGAIN)
        case .failure(let error): throw connectionError("send", error.code)
        }
    }
}

/// What one read of the blocking socket `fd` gives, at most `limit` bytes.
///
/// - Throws: ``LocalRuntimeError/connection(_:)`` when the endpoint closed the connection or on an error.
func receiveSome(_ fd: Int32, limit: Int) throws -> ArraySlice<UInt8> {
    var chunk = [UInt8](repeating: 0, count: limit)
    let result = chunk.withUnsafeMutableBytes { raw in Result { () throws(SystemError) in try Posix.read(fd, into: raw) } }
    switch result {
    case .success(.processed(let n)) where n > 0: return chunk[0..<n]
    case .success(.processed): throw LocalRuntimeError.connection("connection closed by the endpoint")
    // The receive timeout ran out.
    case .success(.wouldBlock): throw connectionError("recv", EAGAIN)
    case .failure(let error): throw connectionError("recv", error.code)
    }
}

/// Closes the socket `fd`.
func closeSocket(_ fd: Int32) {
    Posix.close(fd)
}
