// Serves one payload through the real server and drives it over a Unix socket
// with keep-alive HTTP/1.1 requests from a client thread, N times:
//   server-profile PAYLOAD [N]      (PAYLOAD: v2-one, v3-batch100, …)
// The server is StatefunService's, configured as the example servers run it
// (one event loop, functions run on the loop). Under callgrind this counts the
// instructions of the whole user-space path of a request (parsing, dispatch,
// handler, response; the client's share is a write and a read), which the
// load benchmark can only time. The main thread waits on a semaphore, as
// valgrind needs.
import BenchmarkSupport
import Dispatch
import Foundation
import Glibc
import Logging
import StatefulFunctions
import StatefunServer
import StatefunService

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: server-profile PAYLOAD [N]")
    exit(2)
}
let name = arguments[1]
let count = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
let body = Payloads.load(name)
let socketPath = "/tmp/statefun-server-profile-\(getpid()).sock"

var logger = Logger(label: "server-profile")
logger.logLevel = .error
var configuration = HTTPServerConfiguration(handlerExecution: .eventLoop)
configuration.tcpEnabled = false
configuration.unixSocketPath = socketPath
configuration.eventLoopCount = 1
let service = StatefunService(
    functions: name.hasPrefix("v3") ? Endpoints.v3Functions() : Endpoints.v2Functions(),
    protocol: name.hasPrefix("v3") ? .v3 : .v2, configuration: configuration, logger: logger)
try service.server.start()

/// A blocking HTTP/1.1 client on one keep-alive connection.
struct Client {
    let fd: Int32
    let request: [UInt8]
    var buffer = [UInt8](repeating: 0, count: 1 << 22)

    init(path: String, body: [UInt8]) {
        request = Array(("POST /statefun HTTP/1.1\r\nHost: profile\r\nContent-Type: application/octet-stream\r\n"
            + "Content-Length: \(body.count)\r\n\r\n").utf8) + body
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { fatalError("cannot connect to \(path): errno \(errno)") }
    }

    /// Sends the request and reads the whole response: its status and size.
    mutating func roundTrip() -> (status: Int, bytes: Int) {
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { fatalError("write failed: errno \(errno)") }
            sent += n
        }
        var received = 0
        var expected = Int.max
        while received < expected {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + received, $0.count - received) }
            guard n > 0 else { fatalError("read failed: errno \(errno)") }
            received += n
            if expected == Int.max, let (headEnd, length) = Self.head(buffer[..<received]) {
                expected = headEnd + length
            }
        }
        let status = buffer[9..<12].reduce(0) { $0 * 10 + Int($1) - 48 }
        return (status, received)
    }

    /// Where the head ends and the content length, once the head is complete.
    /// Scans bytes: the client's share of the count must stay small.
    static func head(_ bytes: ArraySlice<UInt8>) -> (Int, Int)? {
        let start = bytes.startIndex
        var end = start
        while end + 3 < bytes.endIndex {
            if bytes[end] == 13 && bytes[end + 1] == 10 && bytes[end + 2] == 13 && bytes[end + 3] == 10 { break }
            end += 1
        }
        guard end + 3 < bytes.endIndex else { return nil }
        let name = Array("content-length:".utf8)
        var line = start
        while line < end {
            var matches = line + name.count <= end
            var i = 0
            while matches && i < name.count {
                matches = bytes[line + i] | 0x20 == name[i]
                i += 1
            }
            if matches {
                var length = 0
                var digit = line + name.count
                while digit < end && bytes[digit] == 32 { digit += 1 }
                while digit < end, bytes[digit] >= 48, bytes[digit] <= 57 {
                    length = length * 10 + Int(bytes[digit] - 48)
                    digit += 1
                }
                return (end + 4, length)
            }
            while line < end && bytes[line] != 10 { line += 1 }
            line += 1
        }
        return nil
    }
}

let done = DispatchSemaphore(value: 0)
Thread.detachNewThread {
    var client = Client(path: socketPath, body: body)
    let first = client.roundTrip()
    guard first.status == 200 else {
        print("the server answered \(first.status)")
        exit(1)
    }
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<count {
        let answer = client.roundTrip()
        guard answer.status == 200 else { fatalError("the server answered \(answer.status)") }
    }
    let elapsed = clock.now - start
    let nanos = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    print("\(name): \(count) requests over one connection, "
        + "\(String(format: "%.2f", nanos / Double(count) / 1000)) µs per request (client and server on one thread each)")
    done.signal()
}
done.wait()
service.server.shutdown()
unlink(socketPath)
exit(0)
