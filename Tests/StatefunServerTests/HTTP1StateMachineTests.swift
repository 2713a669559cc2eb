@testable import StatefunServer
import Testing

/// The HTTP/1.1 connection state machine, driven without a socket (HTTP1Harness).
@Suite("HTTP/1.1 state machine: framing, pipelining and keep-alive")
struct HTTP1StateMachineTests {
    @Test("a Content-Length body arrives whole, however the bytes are split")
    func contentLengthFraming() throws {
        for split in [1, 7, 1000] {
            var h = HTTP1Harness()
            h.readSize = split
            let action = h.send(request("POST", body: "hello, world"))
            let dispatched = try #require(action.request, "split \(split): \(action.summary)")
            #expect(String(decoding: dispatched.body, as: UTF8.self) == "hello, world")
            #expect(dispatched.method == "POST")
            #expect(h.machine.nextRead(now: h.now) == .none, "nothing is read while the handler runs")
        }
    }

    @Test("a body up to 256 KiB is read straight into its array, never past its end; a larger one grows")
    func wholeBodyReadDirectly() throws {
        let next = request()
        for length in [100_000, HTTP1StateMachine.wholeBodyLimit, HTTP1StateMachine.wholeBodyLimit + 1] {
            var h = HTTP1Harness(maxBodySize: 1 << 20)
            h.readSize = 4096
            let body = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let action = h.send(Array(request("POST", fields: ["Content-Length: \(length)"]).utf8) + body + Array(next.utf8))
            let dispatched = try #require(action.request, "\(length): \(action.summary)")
            #expect(dispatched.body == body)
            let direct = h.reads.contains { if case .direct = $0 { true } else { false } }
            #expect(direct == (length <= HTTP1StateMachine.wholeBodyLimit), "\(length): \(h.reads.prefix(4))")
            _ = h.answer()
            if direct {
                // The direct read stopped at the body's end: the next request is still in the socket,
                // and after a large body its head is read on its own.
                #expect(h.socket.count == next.utf8.count)
                #expect(h.machine.responseWritten(now: h.now, admission: h.admission).isNone)
                #expect(h.machine.nextRead(now: h.now) == .buffer(limit: HTTP1StateMachine.headReadAfterLargeBody))
                #expect(h.pump().request?.method == "GET")
            } else {
                #expect(h.written().request?.method == "GET")
            }
        }
    }

    @Test("chunked bodies: sizes in hex, extensions ignored, trailers read and dropped")
    func chunkedFraming() throws {
        var h = HTTP1Harness()
        h.readSize = 3
        let text = request("POST", fields: ["Transfer-Encoding: chunked"])
            + "5;name=value;flag\r\nhello\r\nB \r\n, chunked!\r\r\n0\r\nX-Trailer: t\r\nOther: u\r\n\r\n" + request()
        let action = h.send(text)
        let dispatched = try #require(action.request, "\(action.summary)")
        #expect(String(decoding: dispatched.body, as: UTF8.self) == "hello, chunked!\r")
        _ = h.answer()
        let next = h.written()
        #expect(next.request?.method == "GET", "the request after the trailers: \(next.summary)")
    }

    @Test("chunked framing errors are 400, a chunked body over the limit 413, both closing")
    func chunkedErrors() throws {
        for (chunks, status) in [("zz\r\n", 400), ("5\r\nhelloX", 400), ("5\nhello\r\n", 400), ("401\r\n", 413)] {
            var h = HTTP1Harness(maxBodySize: 1024)
            let action = h.send(request("POST", fields: ["Transfer-Encoding: chunked"]) + chunks)
            let rejection = try #require(action.rejection, "\(chunks.debugDescription): \(action.summary)")
            #expect(rejection.error.status == status)
            #expect(rejection.framing.close)
        }
    }

    @Test("pipelined requests in one read are dispatched one at a time, in order")
    func pipelining() throws {
        var h = HTTP1Harness()
        let first = h.send(request(path: "/fn?1") + request("POST", path: "/fn?2", body: "two") + request("HEAD", path: "/fn?3"))
        #expect(first.request?.query == "1")
        #expect(h.machine.nextRead(now: h.now) == .none)
        #expect(h.machine.process(now: h.now, admission: h.admission).isNone, "nothing more before the answer")
        _ = h.answer()
        let second = h.written()
        #expect(second.request?.query == "2")
        #expect(second.request.map { String(decoding: $0.body, as: UTF8.self) } == "two")
        _ = h.answer()
        let third = h.written()
        #expect(third.request?.query == "3")
        _ = h.answer()
        #expect(h.written().isNone)
        #expect(h.machine.isIdle)
    }

    @Test("100 Continue is sent only when the client waits for it (nothing of the body buffered)")
    func expectContinue() throws {
        var h = HTTP1Harness()
        let head = request("POST", fields: ["Expect: 100-continue", "Content-Length: 5"])
        #expect(h.send(head).isContinue)
        #expect(h.send("hello").request.map { String(decoding: $0.body, as: UTF8.self) } == "hello")

        var eager = HTTP1Harness()
        let action = eager.send(head + "hel")
        #expect(!action.isContinue, "\(action.summary)")
        #expect(eager.send("lo").request != nil)

        var http10 = HTTP1Harness()
        #expect(!http10.send(request("POST", version: "HTTP/1.0", fields: ["Expect: 100-continue", "Content-Length: 5"])).isContinue)
    }

    @Test("malformed requests get their status and close the connection", arguments: [
        ("GET /fn HTTP/1.1\r\n\r\n", 400),  // no Host
        ("GET  /fn HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /fn HTTP/1.1\nHost: x\n\n", 400),
        ("POST /fn HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("POST /fn HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("GET /fn HTTP/1.2\r\nHost: x\r\n\r\n", 505),
        ("GET /fn HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417),
    ])
    func malformed(text: String, status: Int) throws {
        var h = HTTP1Harness()
        let action = h.send(text + request())
        let rejection = try #require(action.rejection, "\(action.summary)")
        #expect(rejection.error.status == status)
        #expect(rejection.framing.close)
        #expect(!h.machine.hasBufferedInput, "the input is dropped")
        #expect(h.machine.responseWritten(now: h.now, admission: h.admission).isLinger)
    }

    @Test("a request head up to the limit is read; one byte more is 431")
    func headLimit() throws {
        let limit = 200
        let base = request(fields: ["X-Pad: "])
        let fits = request(fields: ["X-Pad: " + String(repeating: "a", count: limit - base.utf8.count)])
        #expect(fits.utf8.count == limit)
        var h = HTTP1Harness(maxHeaderSize: limit)
        #expect(h.send(fits).request != nil)
        var over = HTTP1Harness(maxHeaderSize: limit)
        let action = over.send(request(fields: ["X-Pad: " + String(repeating: "a", count: limit + 1 - base.utf8.count)]))
        #expect(action.rejection?.error.status == 431)
        // An incomplete head past the limit is 431 before it ends.
        var endless = HTTP1Harness(maxHeaderSize: limit)
        #expect(endless.send("GET /fn HTTP/1.1\r\nX-Long: " + String(repeating: "b", count: limit)).rejection?.error.status == 431)
    }

    @Test("a declared body up to the limit is read; one byte more is 413 and closes")
    func bodyLimit() throws {
        var h = HTTP1Harness(maxBodySize: 10)
        #expect(h.send(request("POST", body: "0123456789")).request?.body.count == 10)
        var over = HTTP1Harness(maxBodySize: 10)
        let rejection = try #require(over.send(request("POST", body: "0123456789A")).rejection)
        #expect(rejection.error.status == 413)
        #expect(rejection.framing.close)
    }

    @Test("no route: 404/405 keep the connection once a declared body is read and dropped")
    func unroutedKeepsConnection() throws {
        var h = HTTP1Harness()
        let action = h.send(request("POST", path: "/nope", body: "dropped") + request())
        let rejection = try #require(action.rejection, "\(action.summary)")
        #expect(rejection.error.status == 404)
        #expect(!rejection.framing.close)
        #expect(h.written().request?.method == "GET", "the next request is read")

        var chunked = HTTP1Harness()
        let closing = chunked.send(request("POST", path: "/nope", fields: ["Transfer-Encoding: chunked"]))
        #expect(closing.rejection?.framing.close == true, "a chunked body is not discarded: the connection closes")

        var method = HTTP1Harness()
        let notAllowed = try #require(method.send(request("PUT")).rejection)
        #expect(notAllowed.error.status == 405)
        #expect(notAllowed.extraHeaders.first?.name == "Allow")
    }

    @Test("a head that stops arriving is 408 after the header timeout; an idle connection just closes")
    func headTimeout() throws {
        var h = HTTP1Harness()
        #expect(h.send("GET /fn HTTP/1.1\r\nHo").isNone)
        #expect(h.tick(after: 9 * HTTP1Harness.second).isNone)
        let rejection = try #require(h.tick(after: 2 * HTTP1Harness.second).rejection)
        #expect(rejection.error.status == 408)
        #expect(rejection.framing.close)

        var idle = HTTP1Harness()
        #expect(idle.send("\r\n\r\n").isNone, "empty lines before a request are not a request")
        #expect(idle.tick(after: 30 * HTTP1Harness.second).isNone)
        #expect(idle.tick(after: 31 * HTTP1Harness.second).closeReason == .idle)
    }

    @Test("a body that stops arriving is 408 after the idle timeout")
    func bodyTimeout() throws {
        var h = HTTP1Harness()
        #expect(h.send(request("POST", fields: ["Content-Length: 10"]) + "abc").isNone)
        #expect(h.tick(after: 59 * HTTP1Harness.second).isNone)
        let rejection = try #require(h.tick(after: 2 * HTTP1Harness.second).rejection)
        #expect(rejection.error.status == 408)
        #expect(rejection.framing.close)
    }

    @Test("keep-alive: HTTP/1.1 keeps, Connection: close and plain HTTP/1.0 close, HTTP/1.0 keep-alive keeps")
    func keepAliveAndClose() throws {
        var h = HTTP1Harness()
        _ = try #require(h.send(request()).request)
        var framing = h.answer()
        #expect(!framing.close && !framing.http10)
        #expect(h.written().isNone)

        #expect(h.send(request(fields: ["Connection: close"])).request != nil)
        framing = h.answer()
        #expect(framing.close)
        #expect(h.written().isLinger)

        var old = HTTP1Harness()
        #expect(old.send(request(version: "HTTP/1.0")).request != nil)
        #expect(old.answer().close)

        var kept = HTTP1Harness()
        #expect(kept.send(request(version: "HTTP/1.0", fields: ["Connection: keep-alive"])).request != nil)
        framing = kept.answer()
        #expect(!framing.close && framing.http10)

        var asked = HTTP1Harness()
        #expect(asked.send(request()).request != nil)
        #expect(asked.answer(asksClose: true).close, "the handler's Connection: close closes")
    }

    @Test("a client that half-closes after its request still gets the answer, then the connection closes")
    func peerHalfClose() throws {
        var h = HTTP1Harness()
        #expect(h.send(request()).request != nil)
        #expect(h.machine.peerClosedInput().isNone)
        #expect(h.answer().close)
        #expect(h.written().isLinger)

        var idle = HTTP1Harness()
        #expect(idle.machine.peerClosedInput().closeReason == .peerClosed)
        var midHead = HTTP1Harness()
        _ = midHead.send("GET /fn HT")
        #expect(midHead.machine.peerClosedInput().closeReason == .peerClosedMidHead)
        var midBody = HTTP1Harness()
        _ = midBody.send(request("POST", fields: ["Content-Length: 4"]) + "ab")
        #expect(midBody.machine.peerClosedInput().closeReason == .peerClosedMidBody)
    }

    @Test("HEAD: the response keeps its Content-Length and sends no body")
    func headFraming() throws {
        var h = HTTP1Harness()
        #expect(h.send(request("HEAD")).request?.method == "HEAD")
        let framing = h.answer()
        #expect(framing.headRequest)
        let response = ServerResponse.text(200, "twelve bytes")
        let (head, sendBody) = encodeResponseHead(
            response, status: 200, fields: EncodedFields(), framing: framing, dateLine: Array("\r\n".utf8))
        #expect(!sendBody)
        #expect(String(decoding: head, as: UTF8.self).contains("Content-Length: 12\r\n"))
    }

    @Test("draining: every answer closes, and no h2c upgrade is taken")
    func draining() throws {
        var h = HTTP1Harness(http2: true)
        h.machine.beginDrain()
        let action = h.send(request(fields: ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"]))
        #expect(action.request != nil, "\(action.summary)")
        #expect(h.answer().close)
    }
}

@Suite("HTTP/1.1 state machine: HTTP/2 hand-over and body memory")
struct HTTP1StateMachineHandoverTests {
    @Test("the HTTP/2 preface hands the connection over with everything read; a bad one is rejected")
    func preface() throws {
        var h = HTTP1Harness(http2: true)
        h.readSize = 5
        let bytes = http2Preface + [0, 0, 0, 4, 0, 0, 0, 0, 0]
        let action = h.send(bytes)
        guard case .startHTTP2(let buffered) = action.action else {
            Issue.record("expected HTTP/2: \(action.summary)")
            return
        }
        // The rest of the socket is HTTP/2's to read.
        #expect(buffered + h.socket == bytes)
        #expect(h.machine.state == .done)

        var bad = HTTP1Harness(http2: true)
        let rejected = bad.send("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        guard case .rejectPreface = rejected.action else {
            Issue.record("expected an invalid preface: \(rejected.summary)")
            return
        }
        #expect(bad.machine.responseWritten(now: bad.now, admission: bad.admission).isLinger)

        var disabled = HTTP1Harness(http2: false)
        #expect(disabled.send(http2Preface).rejection != nil, "without HTTP/2 the preface is a bad HTTP/1.1 request")
    }

    @Test("Upgrade: h2c hands the request and what follows it to HTTP/2")
    func h2cUpgrade() throws {
        var h = HTTP1Harness(http2: true)
        let text = request(fields: ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"])
        let action = h.send(Array(text.utf8) + http2Preface)
        guard case .upgradeToHTTP2(let upgraded, let settings, let buffered, let record) = action.action else {
            Issue.record("expected an upgrade: \(action.summary)")
            return
        }
        #expect(upgraded.head.path == "/fn")
        #expect(settings.count == 12)
        #expect(buffered == http2Preface)
        #expect(record?.path == "/fn")

        var invalid = HTTP1Harness(http2: true)
        let plain = invalid.send(request(fields: ["Connection: Upgrade", "Upgrade: h2c"]))
        #expect(plain.request != nil, "no HTTP2-Settings: served over HTTP/1.1")
    }

    @Test("a body short of memory is not read until memory is released, then goes on")
    func bodyMemoryGranted() throws {
        let budget = BodyMemoryBudget(limit: 100_000)
        let held = budget.reserve(upTo: 100_000)
        #expect(held == 100_000)
        var h = HTTP1Harness(budget: budget)
        let length = 100_000
        let action = h.send(Array(request("POST", fields: ["Content-Length: \(length)"]).utf8) + [UInt8](repeating: 7, count: length))
        #expect(action.isNone, "\(action.summary)")
        #expect(h.machine.waitsForMemory)
        let asked = h.machine.takeMemoryWait()
        #expect(asked, "the driver is asked to wait for memory")
        let askedAgain = h.machine.takeMemoryWait()
        #expect(!askedAgain)
        #expect(h.machine.nextRead(now: h.now) == .none)
        budget.release(held)
        // The body read so far waited in the buffer: granted memory, it is complete.
        var done = h.outcome(h.machine.memoryReleased(now: h.now, admission: h.admission))
        if done.isNone { done = h.pump() }
        #expect(done.request?.body.count == length, "\(done.summary)")
        #expect(budget.reserved == length - BodyMemoryBudget.perConnectionAllowance)
        _ = h.answer()
        #expect(budget.reserved == 0, "the answer gives the memory back")
    }

    @Test("a body that waits for memory too long is shed with 503 and Retry-After")
    func bodyMemoryShed() throws {
        let budget = BodyMemoryBudget(limit: 100_000)
        let held = budget.reserve(upTo: 100_000)
        var h = HTTP1Harness(budget: budget)
        _ = h.send(Array(request("POST", fields: ["Content-Length: 100000"]).utf8) + [1, 2, 3])
        #expect(h.machine.waitsForMemory)
        #expect(h.tick(after: 4 * HTTP1Harness.second).isNone)
        let rejection = try #require(h.tick(after: 2 * HTTP1Harness.second).rejection)
        #expect(rejection.error.status == 503)
        #expect(rejection.extraHeaders.contains { $0.name == "Retry-After" })
        #expect(!budget.underPressure)
        budget.release(held)
    }
}
