"""RSS of a server holding many idle keep-alive connections: each connection
sends one request (a greeter invocation), reads its answer, and stays open.
Prints the server's RSS before, with the connections open, and after they close.

usage: idle_rss.py BINARY PAYLOAD.bin [CONNECTIONS=10000]
"""
import os
import resource
import socket
import subprocess
import sys
import time

binary, payload = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
body = open(payload, "rb").read()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 1024)), hard))

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port), "--loops", "1"],
                          env=dict(os.environ, LOG_LEVEL="error"), stdout=subprocess.DEVNULL)


def rss():
    with open(f"/proc/{server.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024


try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.1)
    time.sleep(0.5)
    before = rss()
    request = (b"POST /statefun HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
    connections = []
    for i in range(count):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(request)
        connections.append(c)
        if len(connections) % 500 == 0:  # read the answers in waves, keeping every connection open
            for pending in connections[-500:]:
                answer = pending.recv(65536)
                assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    for pending in connections[len(connections) - len(connections) % 500:]:
        assert pending.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(1)
    with_idle = rss()
    for c in connections:
        c.close()
    time.sleep(2)
    after = rss()
    print(f"{os.path.basename(binary)}: RSS {before} MiB idle, {with_idle} MiB with {count} idle keep-alive "
          f"connections (each after one request), {after} MiB after they closed")
finally:
    server.terminate()
    server.wait()
