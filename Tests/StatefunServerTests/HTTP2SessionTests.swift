// The HTTP/2 session as a state machine, without a socket: frames in, frames
// and requests out (HTTP2TestPeer plays the client and the server's owner).
import Testing

@testable import StatefunServer

@Suite("HTTP2Session without a socket")
struct HTTP2SessionTests {
    /// The SETTINGS entries of a frame's payload.
    static func entries(_ frame: Frame) -> [UInt16: UInt32] {
        var entries: [UInt16: UInt32] = [:]
        var offset = 0
        while offset + 6 <= frame.payload.count {
            let id = UInt16(frame.payload[offset]) << 8 | UInt16(frame.payload[offset + 1])
            entries[id] = bigEndian(frame.payload[(offset + 2)..<(offset + 6)])
            offset += 6
        }
        return entries
    }

    @Test("the session opens with our SETTINGS and acknowledges the client's")
    func prefaceAndSettings() throws {
        let configuration = HTTPServerConfiguration(
            maxHeaderSize: 8192, http2: HTTP2Configuration(maxConcurrentStreams: 7, initialStreamWindowSize: 100_000, maxFrameSize: 20_000))
        let peer = try HTTP2TestPeer(configuration: configuration)
        let frames = try peer.handshake([(0x4, 30_000)])
        let settings = frames.filter { $0.type == FrameType.settings }
        try #require(settings.count == 2, "\(frames)")
        #expect(settings[0].flags & FrameFlag.ack == 0)
        #expect(Self.entries(settings[0]) == [0x3: 7, 0x4: 100_000, 0x5: 20_000, 0x6: 8192])
        #expect(settings[1].flags & FrameFlag.ack != 0 && settings[1].payload.isEmpty)
        #expect(!peer.session.isFinished)
    }

    @Test("a request on a stream is dispatched with its fields and body; its response is HEADERS then DATA")
    func requestAndResponse() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, fields: [("content-type", "text/plain"), ("content-length", "5")], endStream: false))
        #expect(peer.owner.started.isEmpty, "dispatched before the end of the stream")
        peer.send(frame(FrameType.data, flags: FrameFlag.endStream, stream: 1, Array("hello".utf8)))
        try #require(peer.owner.started.count == 1)
        let (stream, request) = peer.owner.started[0]
        #expect(stream == 1)
        #expect(request.method == "POST" && request.path == "/echo" && request.version == "HTTP/2")
        #expect(request.body == Array("hello".utf8))
        #expect(request.headers["host"] == "test" && request.headers["content-type"] == "text/plain")

        peer.session.handlerFinished(1, .text(201, "created"))
        let frames = try peer.receive().filter { $0.stream == 1 && $0.type != FrameType.windowUpdate }
        try #require(frames.count == 2, "\(frames)")
        #expect(frames[0].type == FrameType.headers && !frames[0].endStream)
        #expect(frames[0].field(":status") == "201")
        #expect(frames[0].field("content-length") == "7")
        #expect(frames[0].field("date") == "Mon, 07 Dec 2026 06:00:00 GMT")
        #expect(frames[1].type == FrameType.data && frames[1].endStream && frames[1].payload == Array("created".utf8))
        try #require(peer.owner.answered.count == 1)
        #expect(peer.owner.answered[0].status == 201 && peer.owner.answered[0].rejection == nil)
    }

    @Test("a route answered synchronously is answered after the input, without a task")
    func synchronousRoute() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, method: "GET", path: "/sync", endStream: true) + peer.request(3, method: "GET", path: "/sync", endStream: true))
        #expect(peer.owner.started.isEmpty)
        let frames = try peer.receive().filter { $0.type == FrameType.data }
        #expect(frames.map(\.stream) == [1, 3])
        #expect(frames.allSatisfy { $0.payload == Array("sync 0".utf8) && $0.endStream })
    }

    @Test("no route: 404; a method the route does not take: 405 with allow; neither starts a handler")
    func rejections() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, method: "GET", path: "/nowhere", endStream: true))
        peer.send(try peer.request(3, method: "DELETE", path: "/echo", endStream: true))
        let headers = try peer.receive().filter { $0.type == FrameType.headers }
        try #require(headers.count == 2)
        #expect(headers[0].stream == 1 && headers[0].field(":status") == "404")
        #expect(headers[1].stream == 3 && headers[1].field(":status") == "405" && headers[1].field("allow") == "GET, HEAD, POST")
        #expect(peer.owner.started.isEmpty)
        #expect(peer.owner.answered.map { $0.rejection?.status } == [404, 405])
    }

    @Test("a body larger than the flow-control windows arrives whole as the session widens them")
    func requestBodyOverWindow() throws {
        let configuration = HTTPServerConfiguration(
            http2: HTTP2Configuration(initialStreamWindowSize: 65_535, connectionWindowSize: 65_535))
        let peer = try HTTP2TestPeer(configuration: configuration)
        try peer.handshake()
        let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        peer.send(try peer.request(1, fields: [("content-length", "\(body.count)")], endStream: false))
        var connectionWindow = 65_535
        var streamWindow = 65_535
        var sent = 0
        var rounds = 0
        while sent < body.count {
            rounds += 1
            try #require(rounds < 100, "stalled at \(sent) bytes: the windows were not widened")
            let n = min(16_384, connectionWindow, streamWindow, body.count - sent)
            if n > 0 {
                let last = sent + n == body.count
                peer.send(frame(FrameType.data, flags: last ? FrameFlag.endStream : 0, stream: 1, Array(body[sent..<(sent + n)])))
                sent += n
                connectionWindow -= n
                streamWindow -= n
            }
            for update in try peer.receive() where update.type == FrameType.windowUpdate {
                if update.stream == 0 { connectionWindow += Int(update.increment ?? 0) } else { streamWindow += Int(update.increment ?? 0) }
            }
        }
        try #require(peer.owner.started.count == 1)
        #expect(peer.owner.started[0].request.body == body)
    }

    @Test("a response larger than the client's window waits for its WINDOW_UPDATE")
    func responseOverWindow() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake([(0x4, 1000)])
        peer.send(try peer.request(1, method: "GET", endStream: true))
        try #require(peer.owner.started.count == 1)
        let body = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
        peer.session.handlerFinished(1, ServerResponse(status: 200, headers: [], body: body))
        let first = try peer.receive().filter { $0.type == FrameType.data }
        #expect(first.reduce(0) { $0 + $1.payload.count } == 1000)
        #expect(!first.contains { $0.endStream })
        peer.send(frame(FrameType.windowUpdate, stream: 1, be32(4000)))
        let rest = try peer.receive().filter { $0.type == FrameType.data }
        #expect((first + rest).flatMap(\.payload) == body)
        #expect(rest.last?.endStream == true)
    }

    @Test("RST_STREAM of a stream in flight cancels its handler; its response is dropped")
    func resetCancelsHandler() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, method: "GET", endStream: true))
        let task = try #require(peer.owner.tasks[1])
        #expect(!task.isCancelled)
        peer.send(frame(FrameType.rstStream, stream: 1, be32(HTTP2ErrorCode.cancel.rawValue)))
        #expect(task.isCancelled)
        peer.session.handlerFinished(1, .text(200, "too late"))
        #expect(try peer.receive().filter { $0.stream == 1 }.isEmpty)
        #expect(peer.owner.answered.isEmpty)
    }

    @Test("100 empty DATA frames in a row pass; the 101st ends the session with GOAWAY(ENHANCE_YOUR_CALM)")
    func emptyDataFlood() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, endStream: false))
        let empty = frame(FrameType.data, stream: 1)
        let hundredTaken = peer.send(Array([[UInt8]](repeating: empty, count: 100).joined()))
        #expect(hundredTaken)
        #expect(!(try peer.receive()).contains { $0.type == FrameType.goaway })
        let oneMoreTaken = peer.send(empty)
        #expect(!oneMoreTaken)
        let goaway = try peer.receive().filter { $0.type == FrameType.goaway }
        try #require(goaway.count == 1)
        #expect(goaway[0].errorCode == HTTP2ErrorCode.enhanceYourCalm.rawValue)
    }

    @Test("a non-empty DATA frame resets the count of empty ones")
    func emptyDataCountResets() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, endStream: false))
        let empty = frame(FrameType.data, stream: 1)
        let hundred = Array([[UInt8]](repeating: empty, count: 100).joined())
        let taken = peer.send(hundred + frame(FrameType.data, stream: 1, [1]) + hundred)
        #expect(taken)
        #expect(!(try peer.receive()).contains { $0.type == FrameType.goaway })
    }

    @Test("a SETTINGS frame of 32 entries is taken; 33 end the session with GOAWAY(ENHANCE_YOUR_CALM)", arguments: [32, 33])
    func settingsEntries(count: Int) throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        let ok = peer.send(settingsFrame(Array(repeating: (0x2, 0), count: count)))
        let goaway = try peer.receive().filter { $0.type == FrameType.goaway }
        if count <= 32 {
            #expect(ok && goaway.isEmpty && !peer.session.isFinished)
        } else {
            try #require(goaway.count == 1)
            #expect(goaway[0].errorCode == HTTP2ErrorCode.enhanceYourCalm.rawValue)
            #expect(peer.session.isFinished)
        }
    }

    @Test("streams opened and reset at once: 1000 pass, 1100 end the session with GOAWAY(INTERNAL_ERROR)", arguments: [1000, 1100])
    func resetFlood(count: Int) throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        var burst: [UInt8] = []
        for i in 0..<count {
            let stream = Int32(1 + 2 * i)
            burst += try peer.request(stream, method: "GET", path: "/nowhere", endStream: true)
            burst += frame(FrameType.rstStream, stream: stream, be32(HTTP2ErrorCode.cancel.rawValue))
        }
        let ok = peer.send(burst)
        let goaway = try peer.receive().filter { $0.type == FrameType.goaway }
        if count <= 1000 {
            #expect(ok && goaway.isEmpty && !peer.session.isFinished)
            let last = Int32(1 + 2 * count)
            peer.send(try peer.request(last, method: "GET", path: "/sync", endStream: true))
            #expect(try peer.receive().contains { $0.stream == last && $0.type == FrameType.data && $0.endStream })
        } else {
            try #require(goaway.count == 1)
            #expect(goaway[0].errorCode == HTTP2ErrorCode.internalError.rawValue)
            #expect(peer.session.isFinished)
        }
    }

    @Test("handlers of reset streams still running count against max concurrent streams: one more is REFUSED_STREAM")
    func refusedWhileResetHandlersRun() throws {
        let peer = try HTTP2TestPeer(configuration: HTTPServerConfiguration(http2: HTTP2Configuration(maxConcurrentStreams: 2)))
        try peer.handshake()
        for stream: Int32 in [1, 3] {
            peer.send(try peer.request(stream, method: "GET", endStream: true))
            peer.send(frame(FrameType.rstStream, stream: stream, be32(HTTP2ErrorCode.cancel.rawValue)))
        }
        #expect(peer.owner.started.map(\.stream) == [1, 3])
        _ = try peer.receive()
        peer.send(try peer.request(5, method: "GET", endStream: true))
        let refused = try peer.receive().filter { $0.stream == 5 }
        try #require(refused.count == 1, "\(refused)")
        #expect(refused[0].type == FrameType.rstStream && refused[0].errorCode == HTTP2ErrorCode.refusedStream.rawValue)
        #expect(peer.owner.started.count == 2)
        // The first reset handler returns: a stream may start again.
        peer.session.handlerFinished(1, .text(200, "late"))
        peer.send(try peer.request(7, method: "GET", endStream: true))
        #expect(peer.owner.started.map(\.stream) == [1, 3, 7])
    }

    @Test("after Upgrade: h2c, the request already read is stream 1: its response follows the server's SETTINGS")
    func upgradeStreamOne() throws {
        let settings = Array(settingsFrame([(0x3, 100)]).dropFirst(9))
        let peer = try HTTP2TestPeer(upgrade: (settings, false))
        let request = ServerRequest(method: "GET", path: "/echo", query: nil, version: "HTTP/1.1", headers: [:], body: [], peer: "test")
        let route = try #require(peer.owner.routes.all.first { $0.path == "/echo" })
        peer.session.startUpgradedRequest(
            RequestRecord(method: "GET", path: "/echo", routePath: "/echo", protocolName: "HTTP/2", peer: "test", startedAt: 0),
            route: route, request: request)
        #expect(peer.owner.started.map(\.stream) == [1])
        peer.session.handlerFinished(1, .text(200, "upgraded"))
        let frames = try peer.handshake()
        try #require(frames.count >= 3, "\(frames)")
        #expect(frames[0].type == FrameType.settings && frames[0].flags & FrameFlag.ack == 0)
        let stream1 = frames.filter { $0.stream == 1 }
        try #require(stream1.count == 2, "\(frames)")
        #expect(stream1[0].type == FrameType.headers && stream1[0].field(":status") == "200")
        #expect(stream1[1].type == FrameType.data && stream1[1].payload == Array("upgraded".utf8) && stream1[1].endStream)
        #expect(peer.owner.answered.map(\.status) == [200])
    }

    @Test("the HTTP2-Settings of an upgrade request decode as base64url; anything else is no upgrade")
    func upgradeSettingsDecoding() {
        #expect(base64URLDecode("AAMAAABkAAQAAP__") == [0, 3, 0, 0, 0, 0x64, 0, 4, 0, 0, 0xff, 0xff])
        #expect(base64URLDecode("AAMAAABkAAQAAP__==") == [0, 3, 0, 0, 0, 0x64, 0, 4, 0, 0, 0xff, 0xff])
        #expect(base64URLDecode("AAMA+ABk") == nil)
        #expect(base64URLDecode("AB") == nil)  // leftover bits not zero
    }

    @Test("graceful shutdown: GOAWAY and PING, then GOAWAY naming the last stream taken; streams in flight finish, later ones are ignored")
    func gracefulShutdown() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, method: "GET", endStream: true))
        peer.session.beginShutdown(now: peer.owner.now)
        let notice = try peer.receive()
        let firstGoaway = try #require(notice.first { $0.type == FrameType.goaway })
        #expect(firstGoaway.lastStream == 0x7fff_ffff && firstGoaway.errorCode == 0)
        let ping = try #require(notice.first { $0.type == FrameType.ping })
        #expect(ping.payload == Array("shutdown".utf8))

        // Sent before the client saw the notice: taken.
        peer.send(try peer.request(3, method: "GET", endStream: true))
        peer.send(frame(FrameType.ping, flags: FrameFlag.ack, ping.payload))
        let final = try peer.receive().filter { $0.type == FrameType.goaway }
        try #require(final.count == 1)
        #expect(final[0].lastStream == 3 && final[0].errorCode == 0)
        // After the final GOAWAY: ignored.
        peer.send(try peer.request(5, method: "GET", endStream: true))
        #expect(peer.owner.started.map(\.stream) == [1, 3])

        peer.session.handlerFinished(1, .text(200, "one"))
        _ = try peer.receive()
        #expect(!peer.session.isFinished, "stream 3 is still in flight")
        peer.session.handlerFinished(3, .text(200, "three"))
        let last = try peer.receive()
        #expect(last.contains { $0.stream == 3 && $0.type == FrameType.data && $0.endStream })
        #expect(peer.session.isFinished)
    }

    @Test("the sweep: a stalled body is answered 408, a handler past the request timeout is cancelled")
    func sweepTimeouts() throws {
        var configuration = HTTPServerConfiguration(idleTimeout: .seconds(5))
        configuration.requestTimeout = .seconds(10)
        let peer = try HTTP2TestPeer(configuration: configuration)
        try peer.handshake()
        peer.send(try peer.request(1, fields: [("content-length", "10")], endStream: false))
        peer.send(try peer.request(3, method: "GET", endStream: true))
        let task = try #require(peer.owner.tasks[3])
        _ = try peer.receive()

        peer.session.sweep(now: peer.owner.now + 4_000_000_000)
        #expect(try peer.receive().filter { $0.type == FrameType.headers }.isEmpty)
        #expect(!task.isCancelled)

        peer.session.sweep(now: peer.owner.now + 6_000_000_000)
        let stalled = try peer.receive().filter { $0.type == FrameType.headers }
        try #require(stalled.count == 1)
        #expect(stalled[0].stream == 1 && stalled[0].field(":status") == "408")
        #expect(!task.isCancelled, "a running handler is not idle")

        peer.session.sweep(now: peer.owner.now + 11_000_000_000)
        #expect(task.isCancelled)
    }

    @Test("response framing: HEAD gets the length but no DATA, 204 no content-length, an invalid status 500")
    func responseFraming() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        for stream: Int32 in [1, 3, 5] {
            peer.send(try peer.request(stream, method: stream == 1 ? "HEAD" : "GET", endStream: true))
        }
        try #require(peer.owner.started.count == 3)
        peer.session.handlerFinished(1, .text(200, "twelve bytes"))
        peer.session.handlerFinished(3, ServerResponse(status: 204, body: Array("ignored".utf8)))
        peer.session.handlerFinished(5, .text(42, "no such status"))
        let frames = try peer.receive().filter { $0.type == FrameType.headers || $0.type == FrameType.data }
        let head = frames.filter { $0.stream == 1 }
        try #require(head.count == 1)
        #expect(head[0].type == FrameType.headers && head[0].endStream && head[0].field("content-length") == "12")
        let noContent = frames.filter { $0.stream == 3 }
        try #require(noContent.count == 1)
        #expect(noContent[0].field(":status") == "204" && noContent[0].endStream && noContent[0].field("content-length") == nil)
        let invalid = try #require(frames.first { $0.stream == 5 && $0.type == FrameType.headers })
        #expect(invalid.field(":status") == "500")
    }

    // MARK: - Through the connection-handler interface

    @Test("what the session asks of the loop: write after frames, answer the ready requests, fail on a bad preface")
    func actions() throws {
        let peer = try HTTP2TestPeer()
        #expect(peer.session.nextRead(now: peer.owner.now) == .buffer(limit: .max))
        try peer.handshake()
        #expect(peer.lastAction == .write)
        peer.send(try peer.request(1, method: "GET", path: "/sync", endStream: true))
        #expect(peer.lastAction == .answerReady)
        peer.send(try peer.request(3, method: "GET", endStream: true))
        #expect(peer.lastAction == .write, "a handler in a task: nothing to answer now")

        let failing = try HTTP2TestPeer()
        #expect(!failing.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        #expect(failing.lastAction == .fail)
    }

    @Test("the client closing its side: reading stops, handlers are cancelled, the session is done once none runs")
    func peerClosedInput() throws {
        let peer = try HTTP2TestPeer()
        try peer.handshake()
        peer.send(try peer.request(1, method: "GET", endStream: true))
        let task = try #require(peer.owner.tasks[1])
        #expect(peer.session.wantsInput && !peer.session.isDone)
        #expect(peer.session.peerClosedInput() == .write)
        #expect(task.isCancelled)
        #expect(!peer.session.wantsInput && peer.session.nextRead(now: peer.owner.now) == .none)
        #expect(!peer.session.isDone, "the running handler still gets its response out")
        peer.session.handlerFinished(1, .text(200, "late"))
        #expect(try peer.receive().contains { $0.stream == 1 && $0.type == FrameType.data && $0.endStream })
        #expect(peer.session.isDone)
    }

    @Test("the tick: an idle session ends with GOAWAY(NO_ERROR); one with a stream in flight is swept instead")
    func tickIdle() throws {
        let configuration = HTTPServerConfiguration(idleTimeout: .seconds(5))
        let busy = try HTTP2TestPeer(configuration: configuration)
        try busy.handshake()
        busy.send(try busy.request(1, method: "GET", endStream: true))
        _ = try busy.receive()
        #expect(busy.session.tick(now: busy.owner.now + 6_000_000_000, underPressure: false) == .write)
        #expect(try busy.receive().allSatisfy { $0.type != FrameType.goaway })

        let idle = try HTTP2TestPeer(configuration: configuration)
        try idle.handshake()
        _ = try idle.receive()
        #expect(idle.session.tick(now: idle.owner.now + 4_000_000_000, underPressure: false) == .write)
        #expect(try idle.receive().isEmpty)
        #expect(idle.session.tick(now: idle.owner.now + 6_000_000_000, underPressure: false) == .write)
        let goaway = try #require(try idle.receive().first { $0.type == FrameType.goaway })
        #expect(goaway.errorCode == 0)
        #expect(idle.session.isDone)
    }

    @Test("a window short of body memory asks the loop to wait for memory, once per shortage")
    func memoryWait() throws {
        var configuration = HTTPServerConfiguration(
            http2: HTTP2Configuration(initialStreamWindowSize: 1 << 20, connectionWindowSize: 1 << 20))
        configuration.maxBodyMemory = 100_000
        let peer = try HTTP2TestPeer(configuration: configuration)
        try peer.handshake()
        #expect(peer.memoryWaits == 0)
        peer.send(try peer.request(1, fields: [("content-length", "150000")], endStream: false))
        _ = try peer.receive()
        #expect(peer.memoryWaits == 1)
        #expect(!peer.session.takeMemoryWait(), "taken")
        let dispatcher = try #require(peer.owner.dispatcher)
        #expect(peer.session.memoryReleased(now: peer.owner.now, admission: dispatcher) == .write)
    }
}
