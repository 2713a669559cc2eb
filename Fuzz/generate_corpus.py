"""Writes the seed corpora of the fuzz targets to Fuzz/Corpus/<target>/.

Run by scripts/generate-fuzz-corpus.sh: `http` and `v2` with .venv (the
official StateFun 2.2.2 SDK protocol classes, the h2 library), `v3` with
.venv-v3 (StateFun 3.3.0). Deterministic: re-running rewrites the same files.

Seeds of the server targets start with one byte choosing how the stream is
chunked (see Fuzz/Support/FuzzSupport.swift); each seed is written with a few
chunkings. The http2 seeds are the frames after the client preface.
"""
import hashlib
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Corpus")


def write(target, name, data):
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def chunked_variants(target, name, stream, modes=(0, 1, 5, 14)):
    for mode in modes:
        write(target, f"{name}-m{mode}", bytes([mode]) + stream)


# ---------------------------------------------------------------- HTTP/1.1

def http1_requests(statefun_body):
    body = statefun_body
    reqs = {
        "get": b"GET /echo?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        "head": b"HEAD /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "health": b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
        "post-statefun": b"POST /statefun HTTP/1.1\r\nHost: a\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body,
        "post-chunked": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
        "post-chunked-statefun": b"POST /statefun HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 + b"".join(b"%x\r\n" % len(body[i:i + 100]) + body[i:i + 100] + b"\r\n"
                                            for i in range(0, len(body), 100)) + b"0\r\n\r\n",
        "expect-continue": b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        "http10-keepalive": b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /empty HTTP/1.0\r\n\r\n",
        "absolute-form": b"GET http://example.com:80/echo?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "options-star": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "not-found": b"POST /nothing HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd",
        "method-not-allowed": b"DELETE /statefun HTTP/1.1\r\nHost: a\r\n\r\n",
        "fail": b"POST /fail HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "too-large": b"POST /statefun HTTP/1.1\r\nHost: a\r\nContent-Length: 40000\r\n\r\n" + b"x" * 40000,
        "too-large-chunked": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"9000\r\n" + b"y" * 0x9000 + b"\r\n0\r\n\r\n",
        "bad-version": b"GET / HTTP/2.1\r\nHost: a\r\n\r\n",
        "smuggle": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
        "h2c-upgrade": b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                       b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    }
    reqs["pipelined"] = reqs["get"] + reqs["post-statefun"] + reqs["post-chunked"] + reqs["health"] + reqs["head"]
    return reqs


def http_seeds(statefun_body):
    import h2.config
    import h2.connection

    reqs = http1_requests(statefun_body)
    for name, data in reqs.items():
        write("http-parser", name, bytes([7]) + data)
        chunked_variants("http1-connection", name, data, modes=(0,) if len(data) > 10000 else (0, 1, 5, 14))

    frames = h2_seeds(statefun_body)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for name, data in frames.items():
        chunked_variants("http2", name, data, modes=(0, 6, 13))
        # The same connections through the HTTP/1.1 port: prior knowledge.
        if name in ("post-multi-data", "streams"):
            chunked_variants("http1-connection", "h2-prior-knowledge-" + name, preface + data, modes=(0, 7))
    # h2c upgrade, then HTTP/2 frames on the same connection.
    upgrade = reqs["h2c-upgrade"]
    chunked_variants("http1-connection", "h2c-upgrade-then-frames", upgrade + preface + frames["streams"], modes=(0, 6))


def h2_client():
    import h2.config
    import h2.connection
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    c = h2.connection.H2Connection(config=config)
    c.initiate_connection()
    data = c.data_to_send()
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    assert data.startswith(preface)
    return c, data[len(preface):]


def headers(method, path, extra=()):
    return [(b":method", method), (b":scheme", b"http"), (b":authority", b"a"), (b":path", path)] + list(extra)


def h2_seeds(statefun_body):
    import h2.settings
    seeds = {}

    c, out = h2_client()
    c.send_headers(1, headers(b"GET", b"/echo?x=1"), end_stream=True)
    seeds["get"] = out + c.data_to_send()

    c, out = h2_client()
    c.send_headers(1, headers(b"POST", b"/statefun", [(b"content-length", b"%d" % len(statefun_body))]))
    for i in range(0, len(statefun_body), 40):
        c.send_data(1, statefun_body[i:i + 40])
    c.end_stream(1)
    seeds["post-multi-data"] = out + c.data_to_send()

    c, out = h2_client()
    for sid, (method, path) in zip((1, 3, 5, 7, 9), ((b"GET", b"/healthz"), (b"POST", b"/statefun"),
                                                     (b"HEAD", b"/echo"), (b"POST", b"/nothing"), (b"GET", b"/empty"))):
        c.send_headers(sid, headers(method, path), end_stream=method != b"POST")
    c.send_data(3, b"abc")
    c.send_data(7, b"defg", end_stream=True)
    c.ping(b"12345678")
    c.increment_flow_control_window(100000)
    c.end_stream(3)
    seeds["streams"] = out + c.data_to_send()

    c, out = h2_client()
    c.send_headers(1, headers(b"POST", b"/echo", [(b"x-big", b"v" * 20000)]))  # CONTINUATION frames
    c.send_data(1, b"x" * 100)
    c.reset_stream(1)
    c.send_headers(3, headers(b"POST", b"/statefun", [(b"content-length", b"100000")]))
    c.send_data(3, b"y" * 1000)
    c.close_connection()
    seeds["continuation-reset-goaway"] = out + c.data_to_send()

    c, out = h2_client()
    c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10,
                       h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384})
    c.send_headers(1, headers(b"POST", b"/statefun"))
    c.send_data(1, statefun_body[:1000], end_stream=True)
    c.prioritize(1, weight=32, depends_on=0, exclusive=False)
    seeds["small-window"] = out + c.data_to_send()
    return seeds


# ---------------------------------------------------------------- StateFun 2.x

def v2_seeds():
    from google.protobuf.any_pb2 import Any
    from statefun.request_reply_pb2 import ToFunction
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Examples", "Greeter", "Python"))
    from greeter_pb2 import GreetRequest, SeenCount
    from showcase_pb2 import Action, Script, Ping

    def packed(message):
        a = Any()
        a.Pack(message)
        return a

    def request(target, states, invocations):
        t = ToFunction()
        batch = t.invocation
        batch.target.namespace, batch.target.type, batch.target.id = target.split("/", 2)
        for name, value in states:
            s = batch.state.add()
            s.state_name = name
            s.state_value = packed(value).SerializeToString() if value is not None else b""
        for caller, message in invocations:
            inv = batch.invocations.add()
            if caller:
                inv.caller.namespace, inv.caller.type, inv.caller.id = caller.split("/", 2)
            inv.argument.CopyFrom(packed(message))
        return t.SerializeToString()

    every_action = Script(actions=[
        Action(kind=Action.SEND, target_type="example/greeter", target_id="bob", text="hi"),
        Action(kind=Action.REPLY, text="back"),
        Action(kind=Action.SEND_AFTER, target_type="example/showcase", target_id="me", delay_ms=1500, text="later"),
        Action(kind=Action.KAFKA_EGRESS, target_type="example/kafka", target_id="key", text="topic"),
        Action(kind=Action.KINESIS_EGRESS, target_type="example/kinesis", target_id="pk", text="stream"),
        Action(kind=Action.SET_STATE, state="pings", text="x"),
        Action(kind=Action.DELETE_STATE, state="pings"),
        Action(kind=Action.EGRESS, target_type="example/pings", text="out"),
    ])
    seeds = {
        "greeter": request("example/greeter/alice", [("seen_count", SeenCount(seen=3))],
                           [(None, GreetRequest(name="alice"))]),
        "greeter-no-state": request("example/greeter/bob", [("seen_count", None)],
                                    [("example/caller/1", GreetRequest(name="bob"))]),
        "showcase-every-op": request("example/showcase/me", [("pings", SeenCount(seen=1))],
                                     [("example/caller/7", every_action), (None, Ping(text="p"))]),
        "showcase-fail": request("example/showcase/me", [], [(None, Script(actions=[Action(kind=Action.FAIL)]))]),
        "showcase-ping-no-caller": request("example/showcase/x", [("pings", None)], [(None, Ping(text="q"))]),
        "unknown-function": request("example/nobody/1", [], [(None, Ping(text="q"))]),
        "large-batch": request("example/greeter/many", [("seen_count", SeenCount(seen=0))],
                               [(("example/c/%d" % i) if i % 2 else None, GreetRequest(name="n%d" % i))
                                for i in range(400)]),
        "large-batch-showcase": request("example/showcase/many", [("pings", None)],
                                        [("example/c/%d" % i, every_action if i % 3 == 0 else Ping(text="%d" % i))
                                         for i in range(150)]),
    }
    for name, data in seeds.items():
        write("tofunction-v2", name, data)
    return seeds["showcase-every-op"]


# ---------------------------------------------------------------- StateFun 3.x

def v3_seeds():
    from statefun.request_reply_pb2 import ToFunction
    from statefun.types_pb2 import IntWrapper, StringWrapper

    def typed(typename, payload):
        return typename, payload

    def string(s):
        return typed("io.statefun.types/string", StringWrapper(value=s).SerializeToString())

    def request(target, states, invocations):
        t = ToFunction()
        batch = t.invocation
        batch.target.namespace, batch.target.type, batch.target.id = target.split("/", 2)
        for name, value in states:
            s = batch.state.add()
            s.state_name = name
            if value is not None:
                s.state_value.typename, s.state_value.value = value
                s.state_value.has_value = True
        for caller, (typename, payload) in invocations:
            inv = batch.invocations.add()
            if caller:
                inv.caller.namespace, inv.caller.type, inv.caller.id = caller.split("/", 2)
            inv.argument.typename = typename
            inv.argument.value = payload
            inv.argument.has_value = True
        return t.SerializeToString()

    all_states = [("count", typed("io.statefun.types/int", IntWrapper(value=41).SerializeToString())),
                  ("note", string("n")), ("blob", typed("fuzz/blob", b"\x00\x01\x02"))]
    every_op = "".join(chr(i) for i in range(12))  # the message's bytes pick the operations
    seeds = {
        "every-op": request("fuzz/every/a", all_states, [("fuzz/caller/1", string(every_op))]),
        "every-op-no-caller": request("fuzz/every/b", [(n, None) for n, _ in all_states], [(None, string(every_op))]),
        "send-after-cancel": request("fuzz/every/c", all_states, [(None, string("\x06\x07\x06"))]),
        "incomplete-context": request("fuzz/every/d", all_states[:1], [(None, string("\x00"))]),
        "unknown-function": request("fuzz/nobody/1", [], [(None, string("x"))]),
        "large-batch": request("fuzz/every/many", all_states,
                               [(("fuzz/c/%d" % i) if i % 2 else None, string(chr(i % 12) * 3)) for i in range(400)]),
    }
    for name, data in seeds.items():
        write("tofunction-v3", name, data)


if __name__ == "__main__":
    part = sys.argv[1]
    if part == "v2":
        body = v2_seeds()
        with open(os.path.join(ROOT, ".statefun-body"), "wb") as f:
            f.write(body)
    elif part == "http":
        with open(os.path.join(ROOT, ".statefun-body"), "rb") as f:
            http_seeds(f.read())
        os.remove(os.path.join(ROOT, ".statefun-body"))
    elif part == "v3":
        v3_seeds()
    else:
        sys.exit("usage: generate_corpus.py v2|http|v3")
