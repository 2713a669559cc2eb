// The client's side of an HTTP2Session in unit tests, without a socket: frames
// built by hand (header blocks through nghttp2's HPACK encoder), the session's
// output parsed back into frames (header blocks through nghttp2's decoder), and
// an owner that records what the session asks of the server.
import CNghttp2
import CoreMetrics
import Logging
import Testing

@testable import StatefunServer

/// Frame types and flags of RFC 9113 §6.
enum FrameType {
    static let data: UInt8 = 0x0
    static let headers: UInt8 = 0x1
    static let rstStream: UInt8 = 0x3
    static let settings: UInt8 = 0x4
    static let ping: UInt8 = 0x6
    static let goaway: UInt8 = 0x7
    static let windowUpdate: UInt8 = 0x8
}

enum FrameFlag {
    static let endStream: UInt8 = 0x1
    static let ack: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4
}

/// One frame the session sent, its header block decoded.
struct Frame: CustomStringConvertible {
    var type: UInt8
    var flags: UInt8
    var stream: Int32
    var payload: [UInt8]
    var fields: [(name: String, value: String)] = []

    var endStream: Bool { flags & FrameFlag.endStream != 0 }

    /// The error code of a RST_STREAM or GOAWAY.
    var errorCode: UInt32? {
        switch type {
        case FrameType.rstStream where payload.count == 4: return bigEndian(payload[0..<4])
        case FrameType.goaway where payload.count >= 8: return bigEndian(payload[4..<8])
        default: return nil
        }
    }

    /// The last stream id of a GOAWAY, the increment of a WINDOW_UPDATE.
    var lastStream: UInt32? { type == FrameType.goaway && payload.count >= 8 ? bigEndian(payload[0..<4]) & 0x7fff_ffff : nil }
    var increment: UInt32? { type == FrameType.windowUpdate && payload.count == 4 ? bigEndian(payload[0..<4]) : nil }

    func field(_ name: String) -> String? { fields.first { $0.name == name }?.value }

    var description: String {
        let names: [UInt8: String] = [0: "DATA", 1: "HEADERS", 3: "RST_STREAM", 4: "SETTINGS", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE"]
        return "\(names[type] ?? "type \(type)")(stream \(stream), flags \(flags), \(payload.count) bytes\(errorCode.map { ", error \($0)" } ?? ""))"
    }
}

func bigEndian(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    bytes.reduce(0) { $0 << 8 | UInt32($1) }
}

func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
}

/// A frame's bytes: the 9-byte header and the payload.
func frame(_ type: UInt8, flags: UInt8 = 0, stream: Int32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
    let length = UInt32(payload.count)
    return [UInt8(length >> 16), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags] + be32(UInt32(stream)) + payload
}

/// A SETTINGS frame of (identifier, value) entries.
func settingsFrame(_ entries: [(UInt16, UInt32)] = []) -> [UInt8] {
    frame(FrameType.settings, entries.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xff)] + be32($0.1) })
}

/// The client's connection preface and its SETTINGS.
func clientPreface(_ settings: [(UInt16, UInt32)] = []) -> [UInt8] {
    Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + settingsFrame(settings)
}

/// Records what an ``HTTP2Session`` asks of its owner, and answers as a test says.
final class RecordingOwner: HTTP2SessionOwner {
    /// The clock the session starts at.
    let now: UInt64 = 1_000_000_000
    var routes = RouteTable([
        Route(path: "/echo", methods: ["POST", "GET", "HEAD"]) { _ in .text(200, "unused") },
        Route(path: "/sync", methods: ["POST", "GET"]) { request in .text(200, "sync \(request.body.count)") },
    ])
    /// Requests answered by calling the route's handler on the spot (`/sync`), rather than in a task.
    var synchronousPaths: Set<String> = ["/sync"]
    private(set) var started: [(stream: Int32, request: ServerRequest)] = []
    private(set) var tasks: [Int32: Task<Void, Never>] = [:]
    private(set) var answered: [(stream: String, status: Int, rejection: HTTPError?)] = []

    /// The server's dispatcher over ``routes`` (set by ``HTTP2TestPeer``): the real 404, 405 and 413.
    var dispatcher: RequestDispatcher?
    private(set) var problemsReported: [ResponseProblem] = []

    func admit(method: String, path: String, declaredLength: Int?) -> RequestDispatcher.Admission {
        guard let dispatcher else { preconditionFailure("HTTP2TestPeer sets the dispatcher") }
        return dispatcher.admit(method: method, path: path, declaredLength: declaredLength)
    }

    func reportResponseProblems(_ problems: [ResponseProblem], path: String) { problemsReported += problems }

    func canAnswerSynchronously(_ route: Route) -> Bool { synchronousPaths.contains(route.path) }

    func answerSynchronously(_ route: Route, _ request: ServerRequest) -> ServerResponse {
        .text(200, "sync \(request.body.count)")
    }

    /// Starts a task that waits until it is cancelled; the test answers with ``HTTP2Session/handlerFinished(_:_:)``.
    func startHandler(
        _ route: Route, _ request: consuming ServerRequest, connection: UInt64, stream: Int32,
        task: inout Task<Void, Never>?
    ) -> ServerResponse? {
        started.append((stream, request))
        let waiting = Task {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
        tasks[stream] = waiting
        task = waiting
        return nil
    }

    func requestAnswered(_ record: RequestRecord, response: ServerResponse, status: Int, rejection: HTTPError?, now: UInt64) {
        answered.append((record.path, status, rejection))
    }

    func encodeResponseFields(_ fields: [(name: String, value: String)], problems: inout [ResponseProblem]) -> HTTP2Fields {
        encodeHTTP2Fields(fields, problems: &problems)
    }

    func currentDateBytes() -> [UInt8] { Array("Mon, 07 Dec 2026 06:00:00 GMT".utf8) }

    func cancelAll() {
        for task in tasks.values { task.cancel() }
    }
}

/// A session under test and the client's side of it.
final class HTTP2TestPeer {
    let owner = RecordingOwner()
    let context: ServerContext
    let session: HTTP2Session
    private let deflater: OpaquePointer
    private let inflater: OpaquePointer
    /// The session's output not yet parsed (a partial frame).
    private var pending: [UInt8] = []

    init(
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
        upgrade: (settings: [UInt8], headRequest: Bool)? = nil
    ) throws {
        context = ServerContext(
            configuration: configuration, routes: owner.routes, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            lifecycle: Lifecycle(), readiness: Readiness(), metrics: ServerMetrics(factory: NOOPMetricsHandler.instance),
            workerPool: nil, dumper: nil)
        owner.dispatcher = RequestDispatcher(context: context)
        session = try HTTP2Session(context: context, owner: owner, peer: "test", now: owner.now, upgrade: upgrade)
        var deflater: OpaquePointer?
        var inflater: OpaquePointer?
        guard nghttp2_hd_deflate_new(&deflater, 4096) == 0, let deflater,
            nghttp2_hd_inflate_new(&inflater) == 0, let inflater
        else { throw TestFailure("cannot create an HPACK encoder and decoder") }
        self.deflater = deflater
        self.inflater = inflater
    }

    deinit {
        owner.cancelAll()
        nghttp2_hd_deflate_del(deflater)
        nghttp2_hd_inflate_del(inflater)
    }

    /// Feeds bytes to the session as the loop does, through ``ConnectionHandler``:
    /// received, then the action carried out (the requests it completed whose
    /// handlers run synchronously answered). False if the session failed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        guard let dispatcher = owner.dispatcher else { preconditionFailure("set in init") }
        let action = session.received(bytes.span.bytes, now: owner.now, admission: dispatcher)
        lastAction = action
        switch action {
        case .answerReady:
            while session.answerReadyRequests(limit: 16) {}
        case .fail:
            return false
        case .none, .write:
            break
        }
        return true
    }

    /// What the session asked of the loop after the last ``send(_:)``.
    private(set) var lastAction: HTTP2Action?
    /// How often the session asked to wait for body memory (``HTTP2Session/takeMemoryWait()``).
    private(set) var memoryWaits = 0

    /// The session's output since the last call, as frames (header blocks decoded).
    func receive(limit: Int = 1 << 20) throws -> [Frame] {
        session.replenishWindow()
        if session.takeMemoryWait() { memoryWaits += 1 }
        guard let bytes = session.produce(limit: limit) else { throw TestFailure("the session failed while producing") }
        pending += bytes
        var frames: [Frame] = []
        var offset = 0
        while pending.count - offset >= 9 {
            let length = Int(bigEndian(pending[offset..<(offset + 3)]))
            guard pending.count - offset >= 9 + length else { break }
            var parsed = Frame(
                type: pending[offset + 3], flags: pending[offset + 4],
                stream: Int32(bitPattern: bigEndian(pending[(offset + 5)..<(offset + 9)]) & 0x7fff_ffff),
                payload: Array(pending[(offset + 9)..<(offset + 9 + length)]))
            if parsed.type == FrameType.headers { parsed.fields = try decode(parsed.payload) }
            frames.append(parsed)
            offset += 9 + length
        }
        pending.removeFirst(offset)
        return frames
    }

    /// The connection preface exchanged: the client's preface and SETTINGS sent,
    /// the server's SETTINGS read and acknowledged. Returns the server's first frames.
    @discardableResult
    func handshake(_ settings: [(UInt16, UInt32)] = []) throws -> [Frame] {
        #expect(send(clientPreface(settings)))
        let frames = try receive()
        #expect(send(frame(FrameType.settings, flags: FrameFlag.ack)))
        return frames
    }

    /// A HEADERS frame opening `stream` with a request.
    func request(
        _ stream: Int32, method: String = "POST", path: String = "/echo", fields: [(String, String)] = [], endStream: Bool
    ) throws -> [UInt8] {
        let block = try encode([(":method", method), (":scheme", "http"), (":path", path), (":authority", "test")] + fields)
        return frame(FrameType.headers, flags: FrameFlag.endHeaders | (endStream ? FrameFlag.endStream : 0), stream: stream, block)
    }

    private func encode(_ fields: [(String, String)]) throws -> [UInt8] {
        var copies: [UnsafeMutableBufferPointer<UInt8>] = []
        defer { for copy in copies { copy.deallocate() } }
        func copy(_ text: String) -> (UnsafeMutablePointer<UInt8>?, Int) {
            let bytes = Array(text.utf8)
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            _ = buffer.initialize(from: bytes)
            copies.append(buffer)
            return (buffer.baseAddress, bytes.count)
        }
        let nva = fields.map { name, value in
            let (namePointer, nameLength) = copy(name)
            let (valuePointer, valueLength) = copy(value)
            return nghttp2_nv(
                name: namePointer, value: valuePointer, namelen: nameLength, valuelen: valueLength,
                flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        var block = [UInt8](repeating: 0, count: 4096)
        let n = block.withUnsafeMutableBufferPointer { out in
            nva.withUnsafeBufferPointer { nghttp2_hd_deflate_hd(deflater, out.baseAddress, out.count, $0.baseAddress, $0.count) }
        }
        guard n >= 0 else { throw TestFailure("HPACK encoding failed: \(n)") }
        return Array(block[..<n])
    }

    private func decode(_ block: [UInt8]) throws -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        try block.withUnsafeBufferPointer { input in
            var offset = 0
            while true {
                var nv = nghttp2_nv()
                var flags: Int32 = 0
                let n = nghttp2_hd_inflate_hd2(
                    inflater, &nv, &flags, input.baseAddress.map { $0 + offset }, input.count - offset, 1)
                guard n >= 0 else { throw TestFailure("HPACK decoding failed: \(n)") }
                offset += n
                if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) != 0 {
                    fields.append((
                        String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
                        String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
                    ))
                }
                if flags & Int32(NGHTTP2_HD_INFLATE_FINAL.rawValue) != 0 {
                    nghttp2_hd_inflate_end_headers(inflater)
                    break
                }
                if n == 0 && offset >= input.count { break }
            }
        }
        return fields
    }
}
