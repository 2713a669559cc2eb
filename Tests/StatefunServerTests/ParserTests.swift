@testable import StatefunServer
import Testing

@Suite("Parser units")
struct ParserTests {
    private func parse(_ text: String) throws(HTTPError) -> ParsedHead {
        let bytes = Array(text.utf8)
        guard case .complete(let end) = try scanHead(bytes.span, start: 0, from: 0) else {
            throw HTTPError(0, "incomplete")
        }
        return try parseHead(bytes.span.extracting(0..<end))
    }

    @Test func framing() throws {
        let head = try parse("POST /a?b HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 0012\r\n\r\n")
        #expect(head.method == "POST")
        #expect(head.path == "/a")
        #expect(head.query == "b")
        #expect(head.contentLength == 12)
        #expect(!head.chunked)
        #expect(head.keepAlive)
        let chunked = try parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        #expect(chunked.chunked)
        #expect(!chunked.keepAlive)
        #expect(try parse("GET / HTTP/1.0\r\n\r\n").keepAlive == false)
        #expect(try parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive)
    }

    @Test("a connection's head cache parses every head exactly as parseHead does: repeats, new lengths, lookalikes")
    func headCache() {
        func describe(_ result: Result<ParsedHead, HTTPError>) -> String {
            switch result {
            case .failure(let error): return "error \(error.status) \(error.message)"
            case .success(let h):
                return "\(h.method) \(h.path) \(h.query ?? "-") \(h.version) \(h.headers.map { "\($0.name)=\($0.value)" }) "
                    + "\(h.contentLength ?? -1) \(h.chunked) \(h.connectionClose) \(h.connectionKeepAlive) "
                    + "\(h.expectContinue) \(h.upgrade) \(h.keepAlive) \(h.hasBody)"
            }
        }
        func post(_ length: String, path: String = "/statefun", extra: String = "") -> String {
            "POST \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: \(length)\r\n\(extra)Content-Type: application/octet-stream\r\n\r\n"
        }
        let heads = [
            post("5"), post("5"), post("7"), post("123"), post("9"), post("0"), post("12345678"),
            post("9999999999999999999"), post("99999999999999999999"), post("5"),
            post("5\r\nX-Foo: 1"),  // another header where the digits were: a different head
            post("5", extra: "X-Foo: 1\r\n"), post("5", path: "/other"), post("5 "), post("55"), post("5x"),
            post("5\r\nContent-Length: 6"), post("6"),
            "GET /health HTTP/1.1\r\nHost: a\r\n\r\n", "GET /health HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: b\r\n\r\n", "GET /health HTTP/1.0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            post("5", extra: "X-Long: " + String(repeating: "v", count: 1100) + "\r\n"),
            post("6", extra: "X-Long: " + String(repeating: "v", count: 1100) + "\r\n"),
        ]
        var cache = HeadCache()
        for text in heads {
            let bytes = Array(text.utf8)
            let (cached, fresh) = { () -> (String, String) in
                let end: Int
                do throws(HTTPError) {
                    guard case .complete(let e) = try scanHead(bytes.span, start: 0, from: 0) else { return ("incomplete", "") }
                    end = e
                } catch {
                    return ("scan failed", "")
                }
                let cached = Result { () throws(HTTPError) in try cache.parse(bytes.span.extracting(0..<end)) }
                let fresh = Result { () throws(HTTPError) in try parseHead(bytes.span.extracting(0..<end)) }
                return (describe(cached), describe(fresh))
            }()
            #expect(cached == fresh, "\(text.debugDescription)")
        }
    }

    @Test func incompleteHead() throws {
        let bytes = Array("GET / HTTP/1.1\r\nHost: x\r\n\r".utf8)
        let scan = try scanHead(bytes.span, start: 0, from: 0)
        guard case .incomplete(let resume) = scan else {
            Issue.record("expected incomplete")
            return
        }
        #expect(resume == bytes.count)
    }

    /// scanHead's answer by definition, one byte at a time.
    private static func referenceScan(_ bytes: [UInt8], start: Int) -> String {
        var i = start
        while i < bytes.count {
            if bytes[i] == 10 {
                if i == start || bytes[i - 1] != 13 { return "bare LF" }
                if i - 2 > start && bytes[i - 2] == 10 { return "complete \(i + 1)" }
            }
            i += 1
        }
        return "incomplete"
    }

    @Test("scanHead finds the head's end (or a bare LF) wherever it starts, however the bytes arrive")
    func scanHeadAcrossSplits() {
        let heads = [
            "POST /statefun HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n",  // a bare LF mid-head
            "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",  // empty lines first
            "GET / HTTP/1.1\r\nHost: x\r\n\r",
            "\n",
        ]
        for text in heads {
            let bytes = Array(text.utf8)
            for start in 0..<min(bytes.count, 3) {
                let expected = Self.referenceScan(bytes, start: start)
                // In two reads (the last split is the whole at once): the first
                // scan's resume point carries over to the second.
                for split in start...bytes.count {
                    let answer: String = {
                        do {
                            let from: Int
                            switch try scanHead(bytes.span.extracting(..<split), start: start, from: start) {
                            case .complete(let end): return "complete \(end)"
                            case .incomplete(let resume): from = resume
                            }
                            switch try scanHead(bytes.span, start: start, from: from) {
                            case .complete(let end): return "complete \(end)"
                            case .incomplete: return "incomplete"
                            }
                        } catch {
                            return "bare LF"
                        }
                    }()
                    #expect(answer == expected, "\(text.debugDescription) from \(start), split at \(split)")
                }
            }
        }
    }

    @Test func chunkedDecoderAcrossSplits() throws {
        let wire = Array("5;a=b\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: v\r\n\r\nNEXT".utf8)
        for split in 1..<wire.count {
            var decoder = ChunkedDecoder()
            var body: [UInt8] = []
            var consumed = 0
            for part in [wire[0..<split], wire[split...]] {
                let slice = Array(part)
                consumed += try decoder.feed(slice.span, into: &body, maxBodySize: 1000, maxTrailerSize: 100)
                if decoder.isDone { break }
            }
            #expect(decoder.isDone)
            #expect(String(decoding: body, as: UTF8.self) == "helloabcdefghijklmnopqrstuvwxyz")
            #expect(consumed == wire.count - 4, "split at \(split)")
        }
    }

    @Test func chunkedDecoderLimits() {
        var decoder = ChunkedDecoder()
        var body: [UInt8] = []
        let wire = Array("10\r\n".utf8)
        #expect(throws: HTTPError.self) {
            _ = try decoder.feed(wire.span, into: &body, maxBodySize: 15, maxTrailerSize: 100)
        }
    }

    @Test("decimal digits written without a String match String(_:), from 0 to Int.max")
    func decimalDigits() {
        var values = [0, 1, 9, 10, 99, 100, 200, 204, 999, 1000, 65536, 123_456_789, Int.max, -5]
        values += (0..<200).map { _ in Int.random(in: 0...Int.max) >> Int.random(in: 0...62) }
        for value in values {
            var appended: [UInt8] = [UInt8(ascii: "x")]
            appendDecimal(value, to: &appended)
            let written = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
                Array(buffer[..<writeDecimal(value, to: buffer)])
            }
            let expected = Array(String(max(value, 0)).utf8)
            #expect(written == expected, "\(value)")
            #expect(appended == [UInt8(ascii: "x")] + expected, "\(value)")
        }
    }

    @Test("header-name characters are exactly RFC 9110's tchar")
    func tcharMasks() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        for c in UInt8.min...UInt8.max {
            #expect(isTChar(c) == tchar.contains(c), "byte \(c)")
        }
    }

    @Test func dateFormat() {
        #expect(DateCache.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
