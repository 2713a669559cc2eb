import Glibc

/// A resolved socket address.
struct SocketAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    /// Resolves a numeric or named host with getaddrinfo (passive, TCP).
    static func resolve(host: String, port: Int) throws(HTTPServerError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = rc == 0 ? "no addresses" : String(cString: gai_strerror(rc))
            throw HTTPServerError(.addressResolution, "cannot resolve host '\(host)': \(reason)")
        }
        defer { freeaddrinfo(list) }
        var address = SocketAddress()
        withUnsafeMutableBytes(of: &address.storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        address.length = first.pointee.ai_addrlen
        return address
    }

    var port: Int {
        get {
            withUnsafeBytes(of: storage) { raw in
                switch family {
                case AF_INET: Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
                case AF_INET6: Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
                default: 0
                }
            }
        }
        set {
            // sin_port and sin6_port are both at offset 2.
            withUnsafeMutableBytes(of: &storage) { raw in
                raw.storeBytes(of: UInt16(truncatingIfNeeded: newValue).bigEndian, toByteOffset: 2, as: UInt16.self)
            }
        }
    }

    /// `ip:port`, or `[ip]:port` for IPv6.
    var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return withUnsafeBytes(of: storage) { raw -> String in
            switch family {
            case AF_INET:
                let ok = inet_ntop(AF_INET, raw.baseAddress! + 4, &buffer, socklen_t(buffer.count)) != nil
                return ok ? "\(decodeCString(buffer)):\(port)" : "?:\(port)"
            case AF_INET6:
                let ok = inet_ntop(AF_INET6, raw.baseAddress! + 8, &buffer, socklen_t(buffer.count)) != nil
                return ok ? "[\(decodeCString(buffer))]:\(port)" : "?:\(port)"
            default:
                return "unknown"
            }
        }
    }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

private func decodeCString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Creates a non-blocking socket bound to `address`. With `reusePort`, it is
/// bound with SO_REUSEPORT so several loops can share the port; `listen` starts listening.
func makeBoundSocket(
    _ address: SocketAddress, reusePort: Bool, listenBacklog: Int32?
) throws(HTTPServerError) -> Int32 {
    let fd: Int32
    do throws(SystemError) { fd = try Posix.streamSocket(address.family) } catch { throw HTTPServerError(error) }
    Posix.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
    if reusePort && !Posix.setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) {
        let e = errno
        Posix.close(fd)
        throw .system("setsockopt(SO_REUSEPORT)", e)
    }
    if address.family == AF_INET6 {
        // Bind "::" dual-stack where the system allows it.
        Posix.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0)
    }
    do throws(SystemError) {
        _ = try syscallValue("bind") { address.withSockAddr { bind(fd, $0, $1) } }
    } catch {
        Posix.close(fd)
        if error.code == EADDRINUSE {
            throw HTTPServerError(
                .addressInUse, errno: error.code, "cannot bind \(address.description): address already in use")
        }
        throw HTTPServerError(
            .system, errno: error.code, "cannot bind \(address.description): \(errnoDescription(error.code))")
    }
    if let backlog = listenBacklog {
        do throws(SystemError) {
            _ = try syscallValue("listen") { listen(fd, backlog) }
        } catch {
            Posix.close(fd)
            throw HTTPServerError(
                .system, errno: error.code, "cannot listen on \(address.description): \(errnoDescription(error.code))")
        }
    }
    return fd
}

/// The address a socket is bound to.
func boundAddress(_ fd: Int32) -> SocketAddress? {
    var address = SocketAddress()
    address.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutableBytes(of: &address.storage) { raw in
        getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &address.length)
    }
    return rc == 0 ? address : nil
}
