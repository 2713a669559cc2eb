import Foundation
import Glibc
import StatefunServer
import Testing

@Suite("Unix domain sockets", .serialized)
struct UnixSocketTests {
    @Test("curl --unix-socket: HTTP/1.1 and HTTP/2, beside TCP, with the socket as the peer")
    func besideTCP() async throws {
        let path = temporarySocketPath()
        try await withProductionServer({ $0.unixSocketPath = path }) { server in
            #expect(server.server.listeningAddresses == ["127.0.0.1:\(server.port)", "unix:\(path)"])
            let echo = try await curl(["--unix-socket", path, "--data-binary", "over a unix socket", "http://localhost/echo"])
            #expect(echo.stdoutString == "over a unix socket", "\(echo.stderr)")
            let h2 = try await curl([
                "--unix-socket", path, "--http2-prior-knowledge", "-w", " %{http_version}", "http://localhost/hello",
            ])
            #expect(h2.stdoutString == "hello 2", "\(h2.stderr)")
            let upgrade = try await curl(["--unix-socket", path, "--http2", "-w", " %{http_version}", "http://localhost/hello"])
            #expect(upgrade.stdoutString == "hello 2", "\(upgrade.stderr)")
            let peer = try await curl(["--unix-socket", path, "-X", "POST", "http://localhost/fail?500"])
            #expect(peer.stdoutString == "failed on purpose\n")
            #expect(server.logs.all.contains { $0.message == "request failed" && $0.metadata["peer"] == "unix:\(path)" })
            // TCP still serves.
            try await expectServerHealthy(server)
        }
        #expect(access(path, F_OK) != 0, "the socket file is removed at shutdown")
    }

    @Test("Unix socket alone: no TCP port; many concurrent clients")
    func unixOnly() async throws {
        let path = temporarySocketPath()
        try await withProductionServer({
            $0.tcpEnabled = false
            $0.unixSocketPath = path
            $0.eventLoopCount = 3
        }) { server in
            #expect(server.port == 0)
            #expect(server.server.listeningAddresses == ["unix:\(path)"])
            let result = try await python(#"""
                import socket, sys
                from concurrent.futures import ThreadPoolExecutor
                def one(i):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(60)
                    s.connect(sys.argv[1])
                    body = f"request {i}".encode()
                    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
                    return data.endswith(b"\r\n\r\n" + body) and data.startswith(b"HTTP/1.1 200 OK")
                with ThreadPoolExecutor(32) as pool:
                    print(sum(pool.map(one, range(300))))
                """#, [path])
            #expect(result.stdoutString == "300\n", "\(result.stderr)")
        }
    }

    @Test("a stale socket file from a crashed run is replaced")
    func staleSocketReplaced() async throws {
        let path = temporarySocketPath()
        // A socket file nobody listens on: bound, then closed without unlinking (as a crash leaves it).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        #expect(bound == 0)
        #expect(access(path, F_OK) == 0)
        try await withProductionServer({
            $0.tcpEnabled = false
            $0.unixSocketPath = path
        }) { _ in
            let result = try await curl(["--unix-socket", path, "http://localhost/hello"])
            #expect(result.stdoutString == "hello", "\(result.stderr)")
        }
    }

    @Test("a live socket and a file of another kind are not replaced")
    func liveSocketAndRegularFileKept() async throws {
        let path = temporarySocketPath()
        try await withProductionServer({
            $0.tcpEnabled = false
            $0.unixSocketPath = path
        }) { first in
            let second = HTTPServer(
                configuration: HTTPServerConfiguration(tcpEnabled: false, unixSocketPath: path), routes: [])
            let error = try #require(throws: HTTPServerError.self) { try second.start() }
            #expect(error.kind == .addressInUse)
            #expect(error.description.contains("another server is listening on it"))
            let result = try await curl(["--unix-socket", path, "http://localhost/hello"])
            #expect(result.stdoutString == "hello")
        }

        let file = try TemporaryFile(contents: Array("precious".utf8))
        defer { file.remove() }
        let server = HTTPServer(configuration: HTTPServerConfiguration(tcpEnabled: false, unixSocketPath: file.path), routes: [])
        let error = try #require(throws: HTTPServerError.self) { try server.start() }
        #expect(error.description.contains("exists and is not a socket"))
        #expect(try file.read() == Array("precious".utf8))
    }

    @Test("the socket file gets the configured mode", arguments: [0o600, 0o660, 0o666])
    func fileMode(_ mode: Int) async throws {
        let path = temporarySocketPath()
        try await withProductionServer({
            $0.unixSocketPath = path
            $0.unixSocketPermissions = mode
        }) { _ in
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(Int(info.st_mode & 0o777) == mode)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
        }
    }

    @Test("neither TCP nor a Unix socket is a configuration error")
    func nothingToListenOn() {
        let server = HTTPServer(configuration: HTTPServerConfiguration(tcpEnabled: false), routes: [])
        let error = #expect(throws: HTTPServerError.self) { try server.start() }
        #expect(error?.kind == .invalidConfiguration)
    }
}
