@testable import StatefunServer
import Testing

/// Routes for the state machine's tests: `/fn` takes GET, HEAD and POST; other paths are 404.
struct TestAdmission: RequestAdmitting {
    var maxBodySize = 1 << 20
    let route = Route(path: "/fn", methods: ["GET", "HEAD", "POST"]) { _ in .text(200, "ok") }

    func admit(method: String, path: String, declaredLength: Int?) -> RequestDispatcher.Admission {
        guard path == "/fn" else { return .unrouted(HTTPError(404, "no route for \(path)"), extraHeaders: []) }
        guard route.methods.contains(method) else {
            return .unrouted(HTTPError(405, "method \(method) not allowed"), extraHeaders: [(name: "Allow", value: "GET, HEAD, POST")])
        }
        if let length = declaredLength, length > maxBodySize { return .tooLarge(HTTPError(413, "too large")) }
        return .accepted(route)
    }
}

/// Drives an ``HTTP1StateMachine`` as the event loop does, without a socket:
/// `socket` holds what the client sent and the loop has not read yet.
struct HTTP1Harness {
    var machine: HTTP1StateMachine
    var admission: TestAdmission
    var socket: [UInt8] = []
    var now: UInt64 = 1_000_000_000
    /// The most a read takes (the loop's read buffer).
    var readSize = 128 * 1024
    /// Every read plan the machine gave, in order.
    var reads: [ConnectionRead] = []

    static let second: UInt64 = 1_000_000_000

    init(
        maxHeaderSize: Int = 1024, maxBodySize: Int = 1 << 20, http2: Bool = false,
        budget: BodyMemoryBudget = BodyMemoryBudget(limit: 64 << 20)
    ) {
        var configuration = HTTPServerConfiguration()
        configuration.maxHeaderSize = maxHeaderSize
        configuration.maxBodySize = maxBodySize
        configuration.headerTimeout = .seconds(10)
        configuration.idleTimeout = .seconds(60)
        configuration.bodyMemoryWait = .seconds(5)
        configuration.http2.enabled = http2
        var limits = HTTP1Limits(configuration)
        limits.http2 = http2
        machine = HTTP1StateMachine(limits: limits, budget: budget, now: now)
        admission = TestAdmission(maxBodySize: maxBodySize)
    }

    /// The client sends `text`; the loop reads what the machine asks for until
    /// it has an action, or wants no more, or the socket is empty.
    mutating func send(_ text: String) -> Outcome { send(Array(text.utf8)) }

    mutating func send(_ bytes: [UInt8]) -> Outcome {
        socket += bytes
        return pump()
    }

    /// What an action comes to: a dispatched request is taken from the machine, as the loop does.
    mutating func outcome(_ action: HTTP1Action) -> Outcome {
        guard case .dispatch = action else { return Outcome(action: action, request: nil) }
        return Outcome(action: action, request: machine.takeRequest(peer: "test")?.request)
    }

    /// Reads as the loop does (one read per plan) while the socket has bytes.
    mutating func pump() -> Outcome {
        while !socket.isEmpty {
            let plan = machine.nextRead(now: now)
            reads.append(plan)
            let action: HTTP1Action
            switch plan {
            case .none:
                return Outcome(action: .none, request: nil)
            case .direct(let count):
                let n = min(count, socket.count, readSize)
                let chunk = Array(socket.prefix(n))
                socket.removeFirst(n)
                machine.withDirectSpace { space in
                    for (i, byte) in chunk.enumerated() { space.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
                }
                action = machine.directRead(n, now: now, admission: admission)
            case .buffer(let limit):
                let n = min(limit, socket.count, readSize)
                let chunk = Array(socket.prefix(n))
                socket.removeFirst(n)
                action = machine.received(chunk.span.bytes, now: now, admission: admission)
            }
            if !action.isNone { return outcome(action) }
        }
        return Outcome(action: .none, request: nil)
    }

    /// The handler answers; returns the framing the response is written with.
    mutating func answer(asksClose: Bool = false) -> ResponseFraming {
        machine.respond(asksClose: asksClose).framing
    }

    /// The response is written: the next action (a pipelined request, or linger), then reads on.
    mutating func written() -> Outcome {
        let action = machine.responseWritten(now: now, admission: admission)
        if !action.isNone { return outcome(action) }
        return pump()
    }

    mutating func tick(after nanoseconds: UInt64) -> Outcome {
        now += nanoseconds
        return outcome(machine.tick(now: now, underPressure: false))
    }
}

/// An action, and the request a dispatch took from the machine.
struct Outcome {
    var action: HTTP1Action
    var request: ServerRequest?

    var isNone: Bool { action.isNone }
    var rejection: HTTP1Rejection? { action.rejection }
    var closeReason: HTTP1CloseReason? { action.closeReason }
    var isLinger: Bool { action.isLinger }
    var isContinue: Bool { action.isContinue }
    var summary: String {
        guard let request else { return action.summary }
        return "dispatch \(request.method) \(request.path) (\(request.body.count) bytes)"
    }
}

extension HTTP1Action {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    var rejection: HTTP1Rejection? {
        if case .reject(let rejection) = self { return rejection }
        return nil
    }

    var closeReason: HTTP1CloseReason? {
        if case .close(let reason) = self { return reason }
        return nil
    }

    var isLinger: Bool {
        if case .linger = self { return true }
        return false
    }

    var isContinue: Bool {
        if case .sendContinue = self { return true }
        return false
    }

    /// A short description for failure messages.
    var summary: String {
        switch self {
        case .none: "none"
        case .dispatch: "dispatch"
        case .reject(let rejection): "reject \(rejection.error.status) close=\(rejection.framing.close)"
        case .sendContinue: "100-continue"
        case .startHTTP2(let buffered): "HTTP/2 (\(buffered.count) bytes)"
        case .upgradeToHTTP2(let request, _, let buffered, _): "h2c upgrade \(request.head.path) (\(buffered.count) bytes)"
        case .rejectPreface: "invalid preface"
        case .close(let reason): "close \(reason)"
        case .linger: "linger"
        }
    }
}

/// A request head for `/fn` with the given method, fields and body.
func request(
    _ method: String = "GET", path: String = "/fn", version: String = "HTTP/1.1", fields: [String] = [], body: String? = nil
) -> String {
    var head = "\(method) \(path) \(version)\r\nHost: test\r\n"
    for field in fields { head += field + "\r\n" }
    if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
    return head + "\r\n" + (body ?? "")
}
