/// What an ``HTTP1StateMachine`` asks its driver (``HTTP1Driver``) to do.
/// The machine does no I/O: each input returns one of these. A few bytes on
/// the hot path: the request itself is taken from the machine
/// (``HTTP1StateMachine/takeRequest(peer:)``), and the rare large cases are boxed.
enum HTTP1Action {
    /// Nothing to do until more input arrives (or memory is released: ``HTTP1StateMachine/takeMemoryWait()``).
    case none
    /// A request is complete: take it (``HTTP1StateMachine/takeRequest(peer:)``),
    /// run its handler, then hand its response to ``HTTP1StateMachine/respond(asksClose:)``.
    /// Nothing is read meanwhile.
    case dispatch
    /// Answer without a handler (``HTTP1Rejection``); then close, or read on
    /// once it is written (``HTTP1StateMachine/responseWritten(now:)``).
    indirect case reject(HTTP1Rejection)
    /// Write `100 Continue`: the client waits for it before sending the body.
    case sendContinue
    /// The connection speaks HTTP/2 with prior knowledge: hand `buffered` (the
    /// preface and whatever followed it) to an HTTP/2 session.
    case startHTTP2(buffered: [UInt8])
    /// The request asks for `Upgrade: h2c`: write `101 Switching Protocols`, then
    /// serve `request` as stream 1 of an HTTP/2 session started with `settings`,
    /// and hand it `buffered` (input read after the request); `record` is the request's, for the log.
    indirect case upgradeToHTTP2(HTTP1Request, settings: [UInt8], buffered: [UInt8], record: RequestRecord?)
    /// The connection began with the HTTP/2 preface's request line and went on with
    /// something else: write GOAWAY(PROTOCOL_ERROR), then close (RFC 9113 §3.4).
    case rejectPreface
    /// Close the connection now.
    case close(HTTP1CloseReason)
    /// The last response is written and the connection ends: shut down our side
    /// and discard input until the client closes (so it gets no reset).
    case linger
}

/// Why an ``HTTP1StateMachine`` closes its connection without an answer.
enum HTTP1CloseReason: Equatable {
    /// Idle longer than the idle timeout between requests.
    case idle
    /// The client closed its side between requests.
    case peerClosed
    /// The client closed its side with part of a request head sent.
    case peerClosedMidHead
    /// The client closed its side before sending the whole body.
    case peerClosedMidBody
}

/// A complete request that upgrades to HTTP/2 (`Upgrade: h2c`).
struct HTTP1Request {
    var route: Route
    var head: ParsedHead
    var body: [UInt8]

    var isHead: Bool { head.method == "HEAD" }

    /// The request as its handler sees it.
    consuming func serverRequest(peer: String) -> ServerRequest {
        ServerRequest(
            method: head.method, path: head.path, query: head.query, version: head.version.string,
            headers: HTTPHeaders(head.headers), body: body, peer: peer)
    }
}

/// An answer the server gives without a handler: a short text/plain error.
struct HTTP1Rejection {
    var error: HTTPError
    var extraHeaders: [(name: String, value: String)] = []
    var framing: ResponseFraming
    /// What the request log needs (`peer` is the driver's to fill in).
    var record: RequestRecord

    /// The response to send.
    var response: ServerResponse {
        var response = ServerResponse.text(error.status, error.message + "\n")
        response.headers.append(contentsOf: extraHeaders)
        return response
    }
}

/// The limits and timeouts of an HTTP/1.1 connection (``HTTPServerConfiguration``).
struct HTTP1Limits {
    var maxHeaderSize: Int
    var maxBodySize: Int
    /// Request heads that take longer than this (from their first byte) get 408.
    var headerTimeout: Duration
    /// Connections idle (between requests, or mid-body) longer than this are closed (408 mid-body).
    var idleTimeout: Duration
    /// How long a body may wait for memory before it is shed with 503.
    var bodyMemoryWait: Duration
    /// Whether `Upgrade: h2c` and the HTTP/2 preface are answered (HTTP/2 is enabled).
    var http2: Bool

    let headerTimeoutNanos: UInt64
    let idleTimeoutNanos: UInt64
    let bodyMemoryWaitNanos: UInt64

    init(_ configuration: HTTPServerConfiguration) {
        maxHeaderSize = configuration.maxHeaderSize
        maxBodySize = configuration.maxBodySize
        headerTimeout = configuration.headerTimeout
        idleTimeout = configuration.idleTimeout
        bodyMemoryWait = configuration.bodyMemoryWait
        http2 = configuration.http2.enabled
        headerTimeoutNanos = max(configuration.headerTimeout.clampedNanoseconds, 1_000_000)
        idleTimeoutNanos = max(configuration.idleTimeout.clampedNanoseconds, 1_000_000)
        bodyMemoryWaitNanos = max(configuration.bodyMemoryWait.clampedNanoseconds, 1_000_000)
    }
}

/// How a connection's requests are admitted: routed, and checked against the
/// body limits (``RequestDispatcher``; tests give their own).
protocol RequestAdmitting {
    func admit(method: String, path: String, declaredLength: Int?) -> RequestDispatcher.Admission
}

extension RequestDispatcher: RequestAdmitting {}
