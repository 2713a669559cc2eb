import Foundation
import StatefunServer
import Testing

/// The client connection preface followed by an empty SETTINGS frame.
let http2PrefaceBytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

@Suite("HTTP/2 (h2c) with real clients", .serialized)
struct HTTP2Tests {
    @Test("curl --http2-prior-knowledge round-trips a POST; nghttp sends three requests on one connection")
    func priorKnowledge() async throws {
        try await withProductionServer { server in
            let echo = try await curl([
                "--http2-prior-knowledge", "-D", "-", "-H", "Content-Type: application/json",
                "--data-binary", "{\"hello\":\"h2\"}", server.base + "/echo",
            ])
            #expect(echo.status == 0, "\(echo.stderr)")
            #expect(echo.stdoutString.hasPrefix("HTTP/2 200 \r\n"))
            #expect(echo.stdoutString.contains("\r\ncontent-type: application/octet-stream\r\n"))
            #expect(echo.stdoutString.contains("\r\ncontent-length: 14\r\n"))
            #expect(echo.stdoutString.hasSuffix("\r\n\r\n{\"hello\":\"h2\"}"))

            // Three requests as three streams of one connection (nghttp's client). (curl 7.88 cannot reuse an
            // h2c connection for a second URL: it fails the same way against the h2 library's server.)
            let streams = try await runProcess(
                "/usr/bin/nghttp", ["-v", server.base + "/hello?1", server.base + "/hello?2", server.base + "/hello?3"])
            #expect(streams.status == 0, "\(streams.stderr)")
            for stream in [13, 15, 17] {
                #expect(streams.stdoutString.contains("recv (stream_id=\(stream)) :status: 200"), "\(streams.stdoutString)")
            }
            #expect(streams.stdoutString.components(separatedBy: "\nhello").count == 4)
            #expect(!streams.stdoutString.contains("RST_STREAM"))
        }
    }

    @Test("curl --http2: Upgrade: h2c answers 101, then the response comes over HTTP/2 (GET and POST)")
    func upgrade() async throws {
        try await withProductionServer { server in
            let get = try await curl(["--http2", "-v", server.base + "/hello"])
            #expect(get.status == 0, "\(get.stderr)")
            #expect(get.stderr.contains("< HTTP/1.1 101 Switching Protocols"))
            #expect(get.stderr.contains("< HTTP/2 200"))
            #expect(get.stdoutString == "hello")

            // A body curl sends with its head in one write: curl 7.88 mistakes a 101 that arrives while it
            // still considers the upload in progress for the final response (a client race; the server
            // answers only after the whole body, as RFC 7540 §3.2 has it).
            let payload = patternBytes(1000, seed: 3)
            let input = try TemporaryFile(contents: payload)
            let output = try TemporaryFile()
            defer {
                input.remove()
                output.remove()
            }
            let post = try await curl([
                "--http2", "--data-binary", "@" + input.path, "-o", output.path, "-w", "%{http_code} %{http_version}",
                server.base + "/echo",
            ])
            #expect(post.stdoutString == "200 2", "\(post.stderr)")
            #expect(try output.read() == payload)
        }
    }

    @Test("with HTTP/2 off, the preface is an unsupported version and Upgrade: h2c is ignored")
    func disabled() async throws {
        try await withProductionServer({ $0.http2.enabled = false }) { server in
            let (response, closed) = try await rawExchange(port: server.port, http2PrefaceBytes)
            #expect(response?.status == 505)
            #expect(closed)
            let upgrade = try await curl(["--http2", "-w", " %{http_version}", server.base + "/hello"])
            #expect(upgrade.stdoutString == "hello 1.1", "\(upgrade.stderr)")
            #expect(server.logs.all.first { $0.message == "HTTP server listening" }?.metadata["protocols"] == "HTTP/1.1")
        }
    }

    @Test("a 32 MiB upload and a 24 MiB download over one HTTP/2 stream each")
    func largeBodies() async throws {
        // The handlers' copying runs on worker threads, not on the pool every test server shares.
        try await withProductionServer({ $0.handlerExecution = .workerThreads(2) }) { server in
            // Big buffers are made and compared off Swift's small thread pool, which the servers share.
            let payload = try await offloaded { patternBytes(32 * 1024 * 1024, seed: 9) }
            let input = try TemporaryFile(contents: payload)
            let output = try TemporaryFile()
            defer {
                input.remove()
                output.remove()
            }
            let upload = try await curl([
                "--http2-prior-knowledge", "--data-binary", "@" + input.path, "-o", output.path, "-w", "%{http_code}",
                server.base + "/echo",
            ])
            #expect(upload.stdoutString == "200", "\(upload.stderr)")
            #expect(try await offloaded { try output.read() == payload })

            let download = try await curl([
                "--http2-prior-knowledge", "-o", output.path, "-w", "%{http_code}", server.base + "/large?size=25165824",
            ])
            #expect(download.stdoutString == "200", "\(download.stderr)")
            #expect(try await offloaded { try output.read() == patternBytes(25_165_824) })
        }
    }

    @Test("statuses over HTTP/2: 404, 405 with allow, 413, 500 from a handler, HEAD without a body")
    func statuses() async throws {
        try await withProductionServer({ $0.maxBodySize = 1000 }) { server in
            let big = try TemporaryFile(contents: patternBytes(5000))
            defer { big.remove() }
            let cases: [([String], String)] = [
                (["-X", "POST", server.base + "/missing"], "no route for /missing\n404"),
                (["-X", "PUT", server.base + "/echo"], "method PUT not allowed for /echo\n405"),
                (["--data-binary", "@" + big.path, server.base + "/echo"],
                 "request body of 5000 bytes exceeds the limit of 1000 bytes\n413"),
                (["-X", "POST", server.base + "/fail?500"], "failed on purpose\n500"),
            ]
            for (arguments, expected) in cases {
                let result = try await curl(["--http2-prior-knowledge", "-w", "%{http_code}"] + arguments)
                #expect(result.stdoutString == expected, "\(arguments): \(result.stderr)")
            }
            let allow = try await curl(["--http2-prior-knowledge", "-X", "PUT", "-D", "-", "-o", "/dev/null", server.base + "/echo"])
            #expect(allow.stdoutString.contains("\r\nallow: POST\r\n"))
            let head = try await curl(["--http2-prior-knowledge", "-I", server.base + "/hello"])
            #expect(head.stdoutString.hasPrefix("HTTP/2 200"))
            #expect(head.stdoutString.contains("content-length: 5\r\n"))
        }
    }

    @Test("h2load: 4 connections × 50 concurrent streams, 2000 requests, zero errors")
    func h2load() async throws {
        try await withProductionServer({ $0.handlerExecution = .workerThreads(2) }) { server in
            let body = try TemporaryFile(contents: patternBytes(2048))
            defer { body.remove() }
            let post = try await runProcess(
                "/usr/bin/h2load", ["-n", "2000", "-c", "4", "-m", "50", "-d", body.path, server.base + "/echo"])
            #expect(post.status == 0, "\(post.stderr)")
            #expect(post.stdoutString.contains("requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout"),
                    "\(post.stdoutString)")
            #expect(post.stdoutString.contains("status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx"))
            // The data received is exactly the echoed bodies (plus headers).
            #expect(post.stdoutString.contains("(4096000) data"), "\(post.stdoutString)")

            let get = try await runProcess("/usr/bin/h2load", ["-n", "2000", "-c", "2", "-m", "100", server.base + "/hello"])
            #expect(get.stdoutString.contains("2000 succeeded, 0 failed, 0 errored, 0 timeout"), "\(get.stdoutString)")
        }
    }

    @Test("Python httpx (HTTP/2, prior knowledge): 100 concurrent requests on one client")
    func httpx() async throws {
        try await withProductionServer { server in
            let result = try await python(#"""
                import asyncio, hashlib, sys, httpx
                async def main(base):
                    async with httpx.AsyncClient(http1=False, http2=True, base_url=base, timeout=60) as client:
                        bodies = [hashlib.sha256(str(i).encode()).digest() * (i + 1) for i in range(100)]
                        responses = await asyncio.gather(*[client.post("/echo", content=b) for b in bodies])
                        ok = sum(1 for r, b in zip(responses, bodies)
                                 if r.status_code == 200 and r.http_version == "HTTP/2" and r.content == b)
                        print(f"ok={ok}")
                asyncio.run(main(sys.argv[1]))
                """#, [server.base])
            #expect(result.stdoutString == "ok=100\n", "\(result.stderr)")
        }
    }

    @Test("SETTINGS are deliberate, and a stream declaring 32 MiB gets the connection window for all of it in one WINDOW_UPDATE")
    func settingsAndFlowControl() async throws {
        try await withProductionServer({
            $0.http2.maxConcurrentStreams = 77
            $0.handlerExecution = .workerThreads(1)
        }) { server in
            let result = try await python(#"""
                import socket, sys
                import h2.config, h2.connection, h2.events
                from h2.settings import SettingCodes
                port = int(sys.argv[1])
                sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
                conn.initiate_connection()
                conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
                conn.increment_flow_control_window(2**30)
                sock.sendall(conn.data_to_send())
                settings = None
                while settings is None:
                    for event in conn.receive_data(sock.recv(65536)):
                        if isinstance(event, h2.events.RemoteSettingsChanged):
                            settings = {int(k): v.new_value for k, v in event.changed_settings.items()}
                    sock.sendall(conn.data_to_send())
                print("max_concurrent_streams", settings[SettingCodes.MAX_CONCURRENT_STREAMS])
                print("max_frame_size", settings[SettingCodes.MAX_FRAME_SIZE])
                print("max_header_list_size", settings[SettingCodes.MAX_HEADER_LIST_SIZE])
                print("initial_window_size", settings[SettingCodes.INITIAL_WINDOW_SIZE])
                body = bytes(range(256)) * (32 * 1024 * 4)
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, [(":method", "POST"), (":path", "/digest"), (":scheme", "http"),
                                           (":authority", "t"), ("content-length", str(len(body)))])
                sock.sendall(conn.data_to_send())
                # The connection window widens for the declared body once memory is reserved for it.
                updates = 0
                while updates == 0:
                    for event in conn.receive_data(sock.recv(65536)):
                        if isinstance(event, h2.events.WindowUpdated) and event.stream_id == 0:
                            updates += 1
                    sock.sendall(conn.data_to_send())
                print("sendable_without_update", conn.local_flow_control_window(stream) >= len(body))
                for i in range(0, len(body), conn.max_outbound_frame_size):
                    conn.send_data(stream, body[i:i + conn.max_outbound_frame_size])
                conn.end_stream(stream)
                sock.sendall(conn.data_to_send())
                received, done = bytearray(), False
                while not done:
                    data = sock.recv(1 << 20)
                    if not data:
                        break
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.DataReceived):
                            received += event.data
                            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        if isinstance(event, h2.events.StreamEnded):
                            done = True
                    sock.sendall(conn.data_to_send())
                print("received", received.decode() == f"{len(body)} {sum(body) % 2**32}")
                """#, ["\(server.port)"])
            #expect(result.stdoutString == """
                max_concurrent_streams 77
                max_frame_size 65536
                max_header_list_size 16384
                initial_window_size 33554432
                sendable_without_update True
                received True

                """, "\(result.stderr)")
        }
    }

    @Test("64 streams read at once, handlers on the loop: each stream gets its own answer; targets, host and shared response headers")
    func manyStreamsAndFields() async throws {
        try await withProductionServer({
            $0.eventLoopCount = 1
            $0.handlerExecution = .eventLoop
        }) { server in
            let result = try await python(#"""
                import socket, sys
                import h2.config, h2.connection, h2.events
                sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
                conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
                conn.initiate_connection()
                sock.sendall(conn.data_to_send())

                def exchange(requests):
                    """Sends every request in one write; returns each stream's (headers, body), in order."""
                    streams = {}
                    for headers, body in requests:
                        sid = conn.get_next_available_stream_id()
                        conn.send_headers(sid, headers, end_stream=body is None)
                        if body is not None:
                            conn.send_data(sid, body, end_stream=True)
                        streams[sid] = [None, bytearray(), False]
                    sock.sendall(conn.data_to_send())
                    while not all(s[2] for s in streams.values()):
                        data = sock.recv(65536)
                        if not data:
                            sys.exit("connection closed")
                        for event in conn.receive_data(data):
                            if isinstance(event, h2.events.ResponseReceived):
                                streams[event.stream_id][0] = event.headers
                            elif isinstance(event, h2.events.DataReceived):
                                streams[event.stream_id][1] += event.data
                                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                            elif isinstance(event, h2.events.StreamEnded):
                                streams[event.stream_id][2] = True
                            elif isinstance(event, h2.events.StreamReset):
                                sys.exit(f"stream {event.stream_id} reset")
                        sock.sendall(conn.data_to_send())
                    return [(s[0], bytes(s[1])) for s in streams.values()]

                def request(path, authority="t", extra=(), method="GET", body=None):
                    headers = [(":method", method), (":path", path), (":scheme", "http")]
                    if authority is not None:
                        headers.append((":authority", authority))
                    headers += list(extra)
                    if body is not None:
                        headers.append(("content-length", str(len(body))))
                    return (headers, body)

                bodies = [f"stream {i};".encode() * (i + 1) for i in range(64)]
                answers = exchange([request("/echo", method="POST", body=b) for b in bodies])
                print("echo", all(dict(h)[":status"] == "200" and dict(h)["content-length"] == str(len(b)) and body == b
                                  for (h, body), b in zip(answers, bodies)))

                answers = exchange([request("/info?x=1", "a.example"), request("/info", "b.example", [("host", "b.example")]),
                                    request("/info?y=2", "c"), request("/info"), request("/info", None, [("host", "d")]),
                                    request("/info?", "e")])
                for headers, body in answers:
                    print(body.decode().replace("\n", " | "))

                paths = ["/shared", "/hello", "/shared", "/shared-evil", "/shared", "/shared-evil", "/shared-close", "/empty"]
                for (headers, body), path in zip(exchange([request(p) for p in paths]), paths):
                    fields = [(name, value) for name, value in headers if name != "date"]
                    print(path, body.decode(), fields, "date" in dict(headers))
                print("open", dict(exchange([request("/hello")])[0][0])[":status"])
                """#, ["\(server.port)"])
            #expect(result.stdoutString == """
                echo True
                method=GET | path=/info | query=x=1 | version=HTTP/2 | host=a.example | host=a.example
                method=GET | path=/info | query=<nil> | version=HTTP/2 | host=b.example | host=b.example
                method=GET | path=/info | query=y=2 | version=HTTP/2 | host=c | host=c
                method=GET | path=/info | query=<nil> | version=HTTP/2 | host=t | host=t
                method=GET | path=/info | query=<nil> | version=HTTP/2 | host=d | host=d
                method=GET | path=/info | query= | version=HTTP/2 | host=e | host=e
                /shared shared [(':status', '200'), ('content-type', 'text/x-shared'), ('x-shared', '1'), ('content-length', '6')] True
                /hello hello [(':status', '200'), ('content-type', 'text/plain; charset=utf-8'), ('content-length', '5')] True
                /shared shared [(':status', '200'), ('content-type', 'text/x-shared'), ('x-shared', '1'), ('content-length', '6')] True
                /shared-evil evil [(':status', '200'), ('x-good', 'yes'), ('content-length', '4')] True
                /shared shared [(':status', '200'), ('content-type', 'text/x-shared'), ('x-shared', '1'), ('content-length', '6')] True
                /shared-evil evil [(':status', '200'), ('x-good', 'yes'), ('content-length', '4')] True
                /shared-close bye [(':status', '200'), ('x-shared', '2'), ('content-length', '3')] True
                /empty  [(':status', '204')] True
                open 200

                """, "\(result.stderr)")
            // The bad field is reported each time it is dropped.
            let dropped = server.logs.all.filter { $0.message == "handler returned an invalid header field; dropped it" }
            #expect(dropped.count == 2)
        }
    }

    @Test("a slow async handler on one stream does not delay the other streams of its connection")
    func slowStream() async throws {
        try await withProductionServer { server in
            let result = try await python(rawHTTP2Prelude + #"""
                client = Client(int(sys.argv[1]))
                client.request(1, "POST", "/hang")              # waits until /release
                client.request(3, "POST", "/echo", b"quick")
                client.read_until(lambda c: 3 in c.ended)
                print("fast stream answered while the slow one waits:", 1 not in client.ended)
                client.request(5, "POST", "/release")
                client.read_until(lambda c: {1, 5} <= c.ended)
                # Streams 1 and 5 finish on two threads at about the same time: either order.
                print("\n".join(sorted(e for e in client.events if e.startswith("RESPONSE"))))
                """#, ["\(server.port)"])
            #expect(result.stdoutString == """
                fast stream answered while the slow one waits: True
                RESPONSE 1 200 'released'
                RESPONSE 3 200 'quick'
                RESPONSE 5 200 'released the hang'

                """, "\(result.stderr)")
        }
    }

    @Test("shutdown: GOAWAY, the in-flight stream finishes with its full response, then the connection closes")
    func goawayOnShutdown() async throws {
        let server = try startProductionServer()
        async let client = python(rawHTTP2Prelude + #"""
            client = Client(int(sys.argv[1]))
            client.request(1, "POST", "/hang")
            client.read_until(lambda c: c.eof)
            print("\n".join(client.events))
            """#, ["\(server.port)"])
        try await server.hooks.handlerStarted.opened()
        server.server.shutdown()
        server.hooks.releaseHang.open()
        let result = try await client
        await server.server.waitUntilStopped()
        let events = result.stdoutString.split(separator: "\n").map(String.init)
        // First the notice (no stream refused yet), then the final GOAWAY naming stream 1 as the last one taken.
        #expect(events.first == "GOAWAY NO_ERROR last=2147483647", "\(events) \(result.stderr)")
        #expect(events.contains("GOAWAY NO_ERROR last=1"))
        #expect(events.contains("RESPONSE 1 200 'released'"))
        #expect(events.last == "EOF")
        #expect(!events.contains { $0.hasPrefix("RST") })
    }

    @Test("a connection without streams gets GOAWAY and is closed at shutdown")
    func idleConnectionAtShutdown() async throws {
        let server = try startProductionServer { $0.accessLog = true }
        async let client = python(rawHTTP2Prelude + #"""
            client = Client(int(sys.argv[1]))
            client.request(1, "GET", "/hello")
            client.read_until(lambda c: c.eof)
            print("\n".join(client.events))
            """#, ["\(server.port)"])
        // Once the request is answered, the connection is idle.
        try await waitUntil { server.logs.all.contains { $0.message == "access" && $0.metadata["protocol"] == "HTTP/2" } }
        server.server.shutdown()
        let result = try await client
        await server.server.waitUntilStopped()
        #expect(
            result.stdoutString == "RESPONSE 1 200 'hello'\nGOAWAY NO_ERROR last=2147483647\nGOAWAY NO_ERROR last=1\nEOF\n",
            "\(result.stderr)")
    }
}
