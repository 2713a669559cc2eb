import Foundation
import StatefunServer
import Testing

@Suite("Real clients: curl")
struct CurlTests {
    @Test("POST /echo round-trips the body with the route's Content-Type")
    func echo() async throws {
        try await withTestServer { server in
            let result = try await curl([
                "-D", "-", "-H", "Content-Type: application/json", "--data-binary", "{\"hello\":\"world\"}", server.base + "/echo",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            let output = result.stdoutString
            #expect(output.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(output.contains("\r\nContent-Type: application/octet-stream\r\n"))
            #expect(output.contains("\r\nContent-Length: 17\r\n"))
            #expect(output.hasSuffix("\r\n\r\n{\"hello\":\"world\"}"))
        }
    }

    @Test("curl reuses one keep-alive connection for consecutive requests")
    func keepAliveReuse() async throws {
        try await withTestServer { server in
            let result = try await curl([
                "-v", "-w", "connects=%{num_connects}\n",
                server.base + "/hello", server.base + "/hello", server.base + "/hello",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutString == "helloconnects=1\nhelloconnects=0\nhelloconnects=0\n")
            #expect(result.stderr.contains("Re-using existing connection"))
        }
    }

    @Test("status codes: 404, 405, 413, 431")
    func errorStatuses() async throws {
        try await withTestServer({ $0.maxBodySize = 1000 }) { server in
            let body = try TemporaryFile(contents: patternBytes(5000))
            defer { body.remove() }
            let cases: [([String], Int, String)] = [
                (["-X", "POST", server.base + "/missing"], 404, "no route for /missing\n"),
                (["-X", "PUT", server.base + "/echo"], 405, "method PUT not allowed for /echo\n"),
                (["--data-binary", "@" + body.path, server.base + "/echo"], 413,
                 "request body of 5000 bytes exceeds the limit of 1000 bytes\n"),
                (["-H", "X-Big: " + String(repeating: "x", count: 20_000), server.base + "/hello"], 431,
                 "request head exceeds the limit of 16384 bytes\n"),
            ]
            for (arguments, status, message) in cases {
                let result = try await curl(["-w", "\n%{http_code}"] + arguments)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdoutString == message + "\n\(status)")
            }
            let allow = try await curl(["-X", "PUT", "-D", "-", "-o", "/dev/null", server.base + "/echo"])
            #expect(allow.stdoutString.contains("\r\nAllow: POST\r\n"))
        }
    }

    @Test("chunked upload (Transfer-Encoding: chunked) is de-chunked")
    func chunkedUpload() async throws {
        try await withTestServer { server in
            let payload = patternBytes(300_000, seed: 7)
            let input = try TemporaryFile(contents: payload)
            let output = try TemporaryFile()
            defer {
                input.remove()
                output.remove()
            }
            let result = try await curl([
                "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + input.path, "-o", output.path, "-w", "%{http_code}",
                server.base + "/echo",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutString == "200")
            #expect(try output.read() == payload)
        }
    }

    @Test("Expect: 100-continue: curl waits for 100 Continue, then the body arrives")
    func expectContinue() async throws {
        try await withTestServer { server in
            let payload = patternBytes(2 * 1024 * 1024, seed: 3)
            let input = try TemporaryFile(contents: payload)
            let output = try TemporaryFile()
            defer {
                input.remove()
                output.remove()
            }
            let result = try await curl([
                "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "60", "--data-binary", "@" + input.path,
                "-o", output.path, "-w", "%{http_code}", server.base + "/echo",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("< HTTP/1.1 100 Continue"))
            #expect(result.stdoutString == "200")
            #expect(try output.read() == payload)
        }
    }

    @Test("Expect: 100-continue with an over-limit body gets 413 and no 100")
    func expectContinueRejected() async throws {
        try await withTestServer({ $0.maxBodySize = 1024 }) { server in
            let input = try TemporaryFile(contents: patternBytes(100_000))
            defer { input.remove() }
            let result = try await curl([
                "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "60", "--data-binary", "@" + input.path,
                "-w", "\n%{http_code}", server.base + "/echo",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stderr.contains("100 Continue"))
            #expect(result.stdoutString.hasSuffix("\n413"))
        }
    }

    @Test("an 8 MiB body round-trips intact", arguments: ["Content-Length", "chunked"])
    func largeBody(framing: String) async throws {
        try await withTestServer { server in
            let payload = patternBytes(8 * 1024 * 1024, seed: 11)
            let input = try TemporaryFile(contents: payload)
            let output = try TemporaryFile()
            defer {
                input.remove()
                output.remove()
            }
            var arguments = ["--data-binary", "@" + input.path, "-o", output.path, "-w", "%{http_code}", server.base + "/echo"]
            if framing == "chunked" { arguments = ["-H", "Transfer-Encoding: chunked"] + arguments }
            let result = try await curl(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutString == "200")
            let received = try output.read()
            #expect(received.count == payload.count)
            #expect(received == payload)
        }
    }

    @Test("a 24 MiB response is written completely")
    func largeResponse() async throws {
        try await withTestServer { server in
            let size = 24 * 1024 * 1024
            let output = try TemporaryFile()
            defer { output.remove() }
            // --limit-rate keeps the socket full for a while, exercising EPOLLOUT.
            let result = try await curl([
                "-o", output.path, "-w", "%{http_code} %{size_download}", "--limit-rate", "20M",
                server.base + "/large?size=\(size)",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutString == "200 \(size)")
            #expect(try output.read() == patternBytes(size))
        }
    }

    @Test("many concurrent clients are all served", .timeLimit(.minutes(2)))
    func concurrency() async throws {
        try await withTestServer({ $0.eventLoopCount = 4 }) { server in
            let urls = (0..<200).map { server.base + "/hello?n=\($0)" }
            let result = try await curl(
                ["--parallel", "--parallel-max", "50", "-w", "%{http_code}\n"] + urls.flatMap { ["-o", "/dev/null", $0] })
            #expect(result.status == 0, "\(result.stderr)")
            let codes = result.stdoutString.split(separator: "\n")
            #expect(codes.count == 200)
            #expect(codes.allSatisfy { $0 == "200" })
        }
    }

    @Test("HTTP/1.0 client")
    func http10() async throws {
        try await withTestServer { server in
            let result = try await curl(["--http1.0", "-D", "-", server.base + "/hello"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutString.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(result.stdoutString.contains("\r\nConnection: close\r\n"))
            #expect(result.stdoutString.hasSuffix("\r\n\r\nhello"))
        }
    }
}
