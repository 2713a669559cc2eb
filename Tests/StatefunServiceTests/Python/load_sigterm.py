"""SIGTERM while a load generator runs: every request the server accepted must
get its full, correct response.

Six workers post greeter batches (each with its own name) to a running
remote module: four over HTTP/1.1 keep-alive connections, two over HTTP/2
connections with up to 16 streams in flight (on raw frames: the h2 library
stops reading streams after a GOAWAY). Once 300 responses have come back, the
script sends SIGTERM to the server and goes on until no worker can connect.

Each request ends one of three ways:
  ok            a 200 whose FromFunction carries the egress record for its name;
  not accepted  the server never took it: connection refused or closed before a
                byte of response on HTTP/1.1, a stream above the GOAWAY's last
                stream id, or REFUSED_STREAM on HTTP/2;
  broken        anything else (a cut-off or wrong response, a reset).
Prints one JSON object: counts, and the broken requests.

usage: load_sigterm.py HOST PORT SERVER_PID
"""
import json
import os
import signal
import socket
import struct
import sys
import threading

from hpack import Decoder, Encoder
from hyperframe.frame import Frame

sys.path.insert(0, os.path.dirname(__file__))
from conformance import request  # noqa: E402
from greeter_pb2 import GreetRequest  # noqa: E402
from statefun.kafka_egress_pb2 import KafkaProducerRecord  # noqa: E402
from statefun.request_reply_pb2 import FromFunction  # noqa: E402

HOST, PORT, SERVER_PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SIGTERM_AFTER = 300
CAP = 50000  # a server that never stops must not keep the test running forever

lock = threading.Lock()
counts = {"ok": 0, "ok_http1": 0, "ok_http2": 0, "not_accepted": 0, "sent": 0}
broken = []
sigterm_sent = threading.Event()


def body_for(name):
    return request(f"example/greeter/{name}", [("seen_count", None)], [(None, GreetRequest(name=name))])


def check(name, status, content_type, body):
    """None if the response is the right one for `name`, else what is wrong."""
    if status != 200:
        return f"status {status}"
    if content_type != "application/octet-stream":
        return f"content type {content_type}"
    try:
        reply = FromFunction()
        reply.ParseFromString(body)
        record = KafkaProducerRecord()
        record.ParseFromString(reply.invocation_result.outgoing_egresses[0].argument.value)
    except Exception as error:  # noqa: BLE001
        return f"undecodable body ({len(body)} bytes): {error}"
    if record.key != name:
        return f"egress record for {record.key!r}"
    return None


def outcome(kind, name, detail=None, protocol="http1"):
    with lock:
        if kind == "ok":
            counts["ok"] += 1
            counts["ok_" + protocol] += 1
            if counts["ok"] >= SIGTERM_AFTER and not sigterm_sent.is_set():
                sigterm_sent.set()
                os.kill(SERVER_PID, signal.SIGTERM)
        elif kind == "not_accepted":
            counts["not_accepted"] += 1
        else:
            broken.append(f"{protocol} {name}: {detail}")


def next_name(prefix):
    with lock:
        counts["sent"] += 1
        if counts["sent"] > CAP:
            return None
        return f"{prefix}-{counts['sent']}"


# HTTP/1.1

def read_http1_response(sock):
    """(status, headers, body), or None if the connection ended before any byte."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if not data:
                return None
            raise ConnectionError(f"closed mid-head after {len(data)} bytes")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed mid-body after {len(rest)} of {length} bytes")
        rest += chunk
    return status, headers, rest[:length]


def http1_worker(index):
    sock = None
    while True:
        if sock is None:
            try:
                sock = socket.create_connection((HOST, PORT), timeout=60)
            except OSError:
                return  # refused: the server stopped accepting
        name = next_name(f"h1w{index}")
        if name is None:
            return
        body = body_for(name)
        head = (f"POST /statefun HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        try:
            sock.sendall(head + body)
            response = read_http1_response(sock)
        except (BrokenPipeError, ConnectionResetError):
            # Reset without a byte of response: the server closed an idle connection it never read from.
            outcome("not_accepted", name)
            sock.close()
            sock = None
            continue
        except (OSError, ValueError) as error:
            outcome("broken", name, repr(error))
            sock.close()
            sock = None
            continue
        if response is None:
            outcome("not_accepted", name)
            sock.close()
            sock = None
            continue
        status, headers, payload = response
        problem = check(name, status, headers.get("content-type"), payload)
        outcome("ok" if problem is None else "broken", name, problem)
        if headers.get("connection", "").lower() == "close":
            sock.close()
            sock = None


# HTTP/2 on raw frames

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def send(sock, data):
    """False if the connection is gone; what that means for the streams shows when reading."""
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def http2_worker(index):
    while True:
        try:
            sock = socket.create_connection((HOST, PORT), timeout=60)
        except OSError:
            return
        encoder, decoder = Encoder(), Decoder()
        send(sock, PREFACE + frame(SETTINGS, 0, 0))
        pending = {}       # stream id -> [name, status, content type, body]
        stream_id = 1
        last_stream = None  # from GOAWAY
        buffer = b""
        capped = False
        while True:
            while last_stream is None and not capped and len(pending) < 16:
                name = next_name(f"h2w{index}")
                if name is None:
                    capped = True
                    break
                body = body_for(name)
                fields = [(":method", "POST"), (":scheme", "http"), (":path", "/statefun"), (":authority", HOST),
                          ("content-type", "application/octet-stream"), ("content-length", str(len(body)))]
                pending[stream_id] = [name, None, None, b""]
                stream_id += 2
                if not send(sock, frame(HEADERS, 0x4, stream_id - 2, encoder.encode(fields)) +
                            frame(DATA, 0x1, stream_id - 2, body)):
                    break
            if capped and not pending:
                sock.close()
                return
            try:
                chunk = sock.recv(1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                for sid, (name, *_) in pending.items():
                    if last_stream is not None and sid > last_stream:
                        outcome("not_accepted", name, protocol="http2")
                    else:
                        outcome("broken", name, f"connection closed with stream {sid} open", "http2")
                sock.close()
                break
            buffer += chunk
            while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                length = int.from_bytes(buffer[:3], "big")
                f, _ = Frame.parse_frame_header(memoryview(buffer[:9]))
                f.parse_body(memoryview(buffer[9:9 + length]))
                buffer = buffer[9 + length:]
                kind = type(f).__name__
                if kind == "SettingsFrame" and "ACK" not in f.flags:
                    send(sock, frame(SETTINGS, 0x1, 0))
                elif kind == "PingFrame" and "ACK" not in f.flags:
                    send(sock, frame(PING, 0x1, 0, f.opaque_data))
                elif kind == "GoAwayFrame":
                    last_stream = f.last_stream_id if last_stream is None else min(last_stream, f.last_stream_id)
                    for sid in [s for s in pending if s > last_stream]:
                        outcome("not_accepted", pending.pop(sid)[0], protocol="http2")
                elif kind == "RstStreamFrame" and f.stream_id in pending:
                    name = pending.pop(f.stream_id)[0]
                    if f.error_code == 7:  # REFUSED_STREAM: not processed, safe to retry
                        outcome("not_accepted", name, protocol="http2")
                    else:
                        outcome("broken", name, f"RST_STREAM {f.error_code}", "http2")
                elif kind in ("HeadersFrame", "DataFrame") and f.stream_id in pending:
                    entry = pending[f.stream_id]
                    if kind == "HeadersFrame":
                        fields = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                                  for k, v in decoder.decode(f.data)}
                        entry[1], entry[2] = int(fields[":status"]), fields.get("content-type")
                    else:
                        entry[3] += f.data
                        if f.flow_controlled_length:
                            increment = struct.pack(">I", f.flow_controlled_length)
                            send(sock, frame(WINDOW_UPDATE, 0, 0, increment) +
                                 frame(WINDOW_UPDATE, 0, f.stream_id, increment))
                    if "END_STREAM" in f.flags:
                        name, status, content_type, payload = pending.pop(f.stream_id)
                        problem = check(name, status, content_type, payload)
                        outcome("ok" if problem is None else "broken", name, problem, "http2")


workers = [threading.Thread(target=http1_worker, args=(i,)) for i in range(4)]
workers += [threading.Thread(target=http2_worker, args=(i,)) for i in range(2)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(json.dumps({**counts, "sigterm_sent": sigterm_sent.is_set(), "broken": broken[:20], "broken_count": len(broken)}))
