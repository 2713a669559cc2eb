"""Probes an example started with operator flags (OperatorFlagTests): one line per effect.

usage: operator_probe.py PORT served   (path /fn, health /ready, metrics /prom, body 1000, head 2048,
                                        2 HTTP/2 streams, header timeout 0.3 s, idle timeout 0.4 s)
       operator_probe.py PORT bare     (HTTP/2 off, no health check, no metrics, body memory 100000)
"""
import socket
import sys

from hyperframe.frame import Frame, SettingsFrame

port, mode = int(sys.argv[1]), sys.argv[2]


def connect():
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    return sock


def exchange(request):
    """Sends one request on a connection of its own; returns (status, body) of the answer."""
    sock = connect()
    sock.sendall(request)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if _ and b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                break
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body.decode(errors="replace").strip()


def post(path, size):
    return exchange(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (path.encode(), size)
                    + b"x" * size)


def get(path, pad=0):
    head = b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" % path.encode()
    if pad:
        head += b"X-Pad: " + b"p" * (pad - len(head) - len(b"X-Pad: ") - 4) + b"\r\n"
    return exchange(head + b"\r\n")


def report(name, value):
    print(f"{name}: {value}", flush=True)


if mode == "served":
    report("statefun at body limit", post("/fn", 1000)[0])          # the handler's 400: the body is no ToFunction
    report("statefun past body limit", post("/fn", 1001)[0])
    report("default path", post("/statefun", 10)[0])
    report("health", get("/ready"))
    report("default health", get("/healthz")[0])
    report("head at limit", get("/ready", pad=2048)[0])
    report("head past limit", get("/ready", pad=2049)[0])
    metrics = get("/prom")
    report("metrics", (metrics[0], "http_requests_total" in metrics[1]))
    report("default metrics", get("/metrics")[0])
    # A head begun and never finished: 408 after the header timeout, which the answer names.
    sock = connect()
    sock.sendall(b"GET /ready HTTP/1.1\r\nHost: t\r\n")
    report("header timeout", sock.recv(65536).split(b"\r\n\r\n")[1].decode().strip())
    sock.close()
    # A keep-alive connection left idle after a request is closed after the idle timeout.
    sock = connect()
    sock.sendall(b"GET /ready HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        report("idle connection closed", data.startswith(b"HTTP/1.1 200"))
    except TimeoutError:
        report("idle connection closed", "not within 20 s")
    # HTTP/2: the server's SETTINGS_MAX_CONCURRENT_STREAMS.
    sock = connect()
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    data = b""
    while len(data) < 9 or len(data) < 9 + int.from_bytes(data[:3], "big"):
        data += sock.recv(65536)
    frame, length = Frame.parse_frame_header(memoryview(data[:9]))
    frame.parse_body(memoryview(data[9:9 + length]))
    assert isinstance(frame, SettingsFrame)
    report("http2 max streams", frame.settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS))
    sock.close()
else:
    report("health", get("/healthz")[0])
    report("metrics", get("/metrics")[0])
    report("statefun", post("/statefun", 10)[0])
    sock = connect()
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    report("h2c preface", sock.recv(65536).split(b"\r\n")[0].decode())
    sock.close()
    # A body declared larger than the whole body-memory bound (100000 + the 64 KiB allowance).
    status, text = exchange(b"POST /statefun HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n")
    report("beyond body memory", f"{status} {text}")
