"""Request-body memory under attack: the server's RSS stays bounded, valid requests complete.

h1: 64 HTTP/1.1 connections each declare a 30 MiB body and send all of it but
    the last byte (each from a thread; a send blocks once the server stops reading).
h2: one h2c connection opens 64 streams declaring 30 MiB each and sends, as the
    server's flow-control windows allow, all but the last byte of each.

Meanwhile, once the attack has pushed all it can, valid greeter batches are
posted on fresh HTTP/1.1 connections and on a fresh h2c connection; a 503 is
retried after its Retry-After, as the StateFun runtime retries 5xx. The
server's VmRSS (/proc/PID/status) is sampled all along.

Prints one JSON object: baseline and peak RSS (KiB), the valid requests'
outcomes, the statuses the attackers got.

usage: body_memory.py h1|h2 PORT SERVER_PID
"""
import http.client
import json
import os
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events

sys.path.insert(0, os.path.dirname(__file__))
from conformance import request  # noqa: E402
from greeter_pb2 import GreetRequest  # noqa: E402

MODE, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ATTACKERS = 64
DECLARED = 30 * 1024 * 1024
CHUNK = b"x" * (1 << 20)
VALID = 10

peak = [0]
stop_sampling = threading.Event()


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sample():
    while not stop_sampling.is_set():
        try:
            peak[0] = max(peak[0], rss_kib())
        except OSError:
            return
        time.sleep(0.02)


def settle(progress, quiet=2.0, cap=60.0):
    """Waits until progress() stops changing for `quiet` seconds."""
    started, last, since = time.time(), progress(), time.time()
    while time.time() - started < cap:
        time.sleep(0.1)
        now = progress()
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return


# Attacks --------------------------------------------------------------------------

sent_bytes = [0]
attacker_statuses = []
lock = threading.Lock()


def h1_attacker():
    sock = socket.create_connection(("127.0.0.1", PORT))
    sock.settimeout(120)
    try:
        sock.sendall(f"POST /statefun HTTP/1.1\r\nHost: a\r\nContent-Type: application/octet-stream\r\n"
                     f"Content-Length: {DECLARED}\r\n\r\n".encode())
        left = DECLARED - 1
        while left > 0:
            n = min(left, len(CHUNK))
            sock.sendall(CHUNK[:n])
            left -= n
            with lock:
                sent_bytes[0] += n
        # All but the last byte: wait for whatever the server says.
        data = sock.recv(4096)
    except OSError:
        data = b""
    with lock:
        attacker_statuses.append(data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.1 ") else "closed")
    sock.close()


def h2_attacker(done):
    sock = socket.create_connection(("127.0.0.1", PORT))
    sock.settimeout(0.5)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    streams = []
    for i in range(ATTACKERS):
        stream = 1 + 2 * i
        conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", "/statefun"),
                                   (":authority", "a"), ("content-type", "application/octet-stream"),
                                   ("content-length", str(DECLARED))])
        streams.append(stream)
    left = {stream: DECLARED - 1 for stream in streams}
    sock.sendall(conn.data_to_send())
    while not done.is_set():
        for stream in streams:
            while left.get(stream, 0) > 0:
                try:
                    window = conn.local_flow_control_window(stream)
                except Exception:
                    left.pop(stream, None)
                    break
                n = min(window, left[stream], conn.max_outbound_frame_size)
                if n <= 0:
                    break
                conn.send_data(stream, CHUNK[:n])
                left[stream] -= n
                with lock:
                    sent_bytes[0] += n
        try:
            sock.sendall(conn.data_to_send())
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers).get(":status", "?")
                with lock:
                    attacker_statuses.append(status)
            elif isinstance(event, h2.events.StreamReset):
                left.pop(event.stream_id, None)
                with lock:
                    attacker_statuses.append("reset")
        try:
            sock.sendall(conn.data_to_send())
        except OSError:
            break
    sock.close()


# Valid requests ---------------------------------------------------------------------

def body_for(name):
    return request(f"example/greeter/{name}", [("seen_count", None)], [(None, GreetRequest(name=name))])


def valid_h1(name, outcomes):
    for attempt in range(120):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        try:
            conn.request("POST", "/statefun", body=body_for(name),
                         headers={"Content-Type": "application/octet-stream"})
            response = conn.getresponse()
            response.read()
            status, retry = response.status, response.getheader("Retry-After")
        except OSError as error:
            status, retry = f"error {error}", None
        conn.close()
        outcomes.append(status)
        if status == 200:
            return
        time.sleep(float(retry or 1))


def valid_h2(name, outcomes):
    for attempt in range(120):
        sock = socket.create_connection(("127.0.0.1", PORT))
        sock.settimeout(60)
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        body = body_for(name)
        conn.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/statefun"), (":authority", "v"),
                              ("content-type", "application/octet-stream"), ("content-length", str(len(body)))])
        conn.send_data(1, body, end_stream=True)
        sock.sendall(conn.data_to_send())
        status, retry, ended = None, None, False
        try:
            while not ended:
                data = sock.recv(1 << 16)
                if not data:
                    break
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        headers = dict(event.headers)
                        status, retry = int(headers[":status"]), headers.get("retry-after")
                    elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                        ended = True
                sock.sendall(conn.data_to_send())
        except OSError as error:
            status = f"error {error}"
        sock.close()
        outcomes.append(status)
        if status == 200:
            return
        time.sleep(float(retry or 1))


def main():
    baseline = rss_kib()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    done = threading.Event()
    if MODE == "h1":
        attackers = [threading.Thread(target=h1_attacker, daemon=True) for _ in range(ATTACKERS)]
    else:
        attackers = [threading.Thread(target=h2_attacker, args=(done,), daemon=True)]
    for thread in attackers:
        thread.start()
    # The attack has pushed all the server takes.
    settle(lambda: sent_bytes[0])
    attack_peak = peak[0]
    outcomes = {}
    valid = []
    for i in range(VALID):
        for kind, function in (("h1", valid_h1), ("h2", valid_h2)):
            name = f"valid-{kind}-{i}"
            outcomes[name] = []
            valid.append(threading.Thread(target=function, args=(name, outcomes[name]), daemon=True))
    for thread in valid:
        thread.start()
    for thread in valid:
        thread.join(timeout=300)
    done.set()
    stop_sampling.set()
    sampler.join()
    print(json.dumps({
        "baseline_kib": baseline, "attack_peak_kib": attack_peak, "peak_kib": peak[0],
        "sent_mib": sent_bytes[0] >> 20,
        "valid_ok": sum(1 for o in outcomes.values() if o and o[-1] == 200),
        "valid_total": len(outcomes), "valid_outcomes": outcomes,
        "attacker_statuses": sorted(set(attacker_statuses)),
    }))


main()
