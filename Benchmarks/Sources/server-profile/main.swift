// Serves one payload through the real server and drives it over a Unix socket
// with keep-alive HTTP/1.1 requests from a client thread, N times:
//   server-profile PAYLOAD [N]      (PAYLOAD: v2-one, v3-batch100, …)
// or, with PAYLOAD prefixed `h2c-` (h2c-v3-one…), over one prior-knowledge
// HTTP/2 connection in N rounds of 64 concurrent streams (the load
// benchmark's h2c row): each round's requests go out in one write.
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
let h2c = arguments[1].hasPrefix("h2c-")
let name = h2c ? String(arguments[1].dropFirst(4)) : arguments[1]
let count = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
let body = Payloads.load(name)
let socketPath = "/tmp/statefun-server-profile-\(getpid()).sock"

var logger = Logger(label: "server-profile")
logger.logLevel = .error
var configuration = HTTPServerConfiguration(handlerExecution: .eventLoop)
configuration.tcpEnabled = false
configuration.unixSocketPath = socketPath
configuration.eventLoopCount = 1
// STATEFUN_PROFILE_DUMP_DIR: with the failed-request dump on (and with it the crash report's in-flight marks).
if let directory = ProcessInfo.processInfo.environment["STATEFUN_PROFILE_DUMP_DIR"] {
    configuration.failedRequestDump = FailedRequestDumpConfiguration(directory: directory)
}
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

/// A blocking prior-knowledge HTTP/2 client on one connection: rounds of
/// `streams` requests written at once, each round read until every stream has
/// ended. Frames are built by hand (HPACK literals, no dynamic table) and read
/// by their 9-byte headers: the client's share of the count stays small.
struct HTTP2Client {
    let fd: Int32
    let streams: Int
    let body: [UInt8]
    var nextStream: UInt32 = 1
    var buffer = [UInt8](repeating: 0, count: 1 << 22)
    var pending: [UInt8] = []

    init(path: String, body: [UInt8], streams: Int) {
        self.fd = Client(path: path, body: []).fd
        self.streams = streams
        self.body = body
        var start = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        // SETTINGS: a stream window of 2^31-1; then the connection window opened as far.
        Self.frame(&start, type: 4, flags: 0, stream: 0, payload: [0, 4, 0x7F, 0xFF, 0xFF, 0xFF])
        let increment = UInt32(Int32.max) - 65535
        Self.frame(&start, type: 8, flags: 0, stream: 0, payload: withUnsafeBytes(of: increment.bigEndian) { Array($0) })
        writeAll(start)
    }

    static func frame(_ out: inout [UInt8], type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) {
        let length = payload.count
        out += [UInt8(length >> 16), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF), type, flags]
        out += withUnsafeBytes(of: stream.bigEndian) { Array($0) }
        out += payload
    }

    static func literal(_ out: inout [UInt8], _ bytes: [UInt8]) {
        precondition(bytes.count < 127)
        out.append(UInt8(bytes.count))
        out += bytes
    }

    func writeAll(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { fatalError("write failed: errno \(errno)") }
            sent += n
        }
    }

    /// One round's requests, built once; the stream ids are patched in per round.
    lazy var requests: (bytes: [UInt8], idOffsets: [Int]) = {
        var out: [UInt8] = []
        var offsets: [Int] = []
        for _ in 0..<streams {
            // :method POST, :scheme http (static table), :path, :authority,
            // content-type, content-length (literals with indexed names).
            var block: [UInt8] = [0x83, 0x86, 0x04]
            Self.literal(&block, Array("/statefun".utf8))
            block.append(0x01)
            Self.literal(&block, Array("profile".utf8))
            block += [0x0F, 0x10]
            Self.literal(&block, Array("application/octet-stream".utf8))
            block += [0x0F, 0x0D]
            Self.literal(&block, Array(String(body.count).utf8))
            offsets.append(out.count + 5)
            Self.frame(&out, type: 1, flags: 0x4, stream: 0, payload: block)
            var offset = 0
            repeat {
                let end = min(offset + 16384, body.count)
                offsets.append(out.count + 5)
                Self.frame(&out, type: 0, flags: end == body.count ? 0x1 : 0, stream: 0, payload: Array(body[offset..<end]))
                offset = end
            } while offset < body.count
        }
        return (out, offsets)
    }()

    /// One round: `streams` requests, then every response. Returns the streams that answered 200.
    mutating func round() -> Int {
        var out = requests.bytes
        var id = nextStream
        var lastFrameStream = -1
        for offset in requests.idOffsets {
            // A HEADERS frame (type 1) opens the next stream; its DATA frames follow.
            if out[offset - 2] == 1 {
                if lastFrameStream >= 0 { id += 2 }
                lastFrameStream = Int(id)
            }
            let bytes = withUnsafeBytes(of: id.bigEndian) { Array($0) }
            for i in 0..<4 { out[offset + i] = bytes[i] }
        }
        nextStream = id + 2
        out += pending
        pending = []
        writeAll(out)
        var ended = 0
        var ok = 0
        var held = 0
        while ended < streams {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + held, $0.count - held) }
            guard n > 0 else { fatalError("read failed: errno \(errno)") }
            held += n
            var at = 0
            while held - at >= 9 {
                let length = Int(buffer[at]) << 16 | Int(buffer[at + 1]) << 8 | Int(buffer[at + 2])
                guard held - at >= 9 + length else { break }
                let type = buffer[at + 3]
                let flags = buffer[at + 4]
                switch type {
                case 1:  // HEADERS: nghttp2 sends :status 200 as static index 8
                    if length > 0 && buffer[at + 9] == 0x88 { ok += 1 }
                    if flags & 0x1 != 0 { ended += 1 }
                case 0:
                    if flags & 0x1 != 0 { ended += 1 }
                case 4 where flags & 0x1 == 0:  // the server's SETTINGS: acknowledged with the next round
                    Self.frame(&pending, type: 4, flags: 0x1, stream: 0, payload: [])
                case 7:
                    fatalError("the server sent GOAWAY")
                default:
                    break
                }
                at += 9 + length
            }
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + at, byteCount: held - at)
            }
            held -= at
        }
        return ok
    }
}

/// Runs `step` once to warm up, then `count` times, timed; prints the time per request.
@Sendable func measure(_ label: String, requestsPerStep: Int, _ step: () -> Bool) {
    guard step() else {
        print("the server did not answer 200")
        exit(1)
    }
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<count {
        guard step() else { fatalError("the server did not answer 200") }
    }
    let elapsed = clock.now - start
    let nanos = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    print("\(label), \(String(format: "%.2f", nanos / Double(count * requestsPerStep) / 1000)) µs per request")
}

let done = DispatchSemaphore(value: 0)
Thread.detachNewThread {
    if h2c {
        let streams = 64
        var client = HTTP2Client(path: socketPath, body: body, streams: streams)
        measure("h2c-\(name): \(count) rounds of \(streams) streams over one connection", requestsPerStep: streams) {
            client.round() == streams
        }
    } else {
        var client = Client(path: socketPath, body: body)
        measure("\(name): \(count) requests over one connection (client and server on one thread each)", requestsPerStep: 1) {
            client.roundTrip().status == 200
        }
    }
    done.signal()
}
done.wait()
service.server.shutdown()
unlink(socketPath)
exit(0)
