"""Serves the Python twins of the examples with the official SDKs, over HTTP,
as reference endpoints for statefun-local's tests.

usage: serve.py v2 PORT | serve.py v3 PORT | serve.py v3 unix:/path/to.sock (PORT 0: any free port;
the "ready" line names the port bound)
"""
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

root = os.path.join(os.path.dirname(__file__), "..", "..", "..")
version, where = sys.argv[1], sys.argv[2]
if version == "v2":
    sys.path.insert(0, os.path.join(root, "Examples", "Greeter", "Python"))
    import twins
    handle = twins.handler
else:
    sys.path.insert(0, os.path.join(root, "Examples", "GreeterV3", "Python"))
    import greeter_v3_twins
    from statefun import RequestReplyHandler
    handle = RequestReplyHandler(greeter_v3_twins.functions).handle_sync


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            status, reply, content_type = 200, handle(body), "application/octet-stream"
        except Exception as error:  # a failed function: the runtime retries a 500
            status, reply, content_type = 500, repr(error).encode(), "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)


if where.startswith("unix:"):
    path = where[len("unix:"):]
    if os.path.exists(path):
        os.unlink(path)
    server = UnixHTTPServer(path, Handler)
else:
    server = ThreadingHTTPServer(("127.0.0.1", int(where)), Handler)
print("ready", server.server_address[1] if not where.startswith("unix:") else where, flush=True)
server.serve_forever()
