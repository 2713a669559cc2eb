"""The soak test's checking client: for DURATION seconds, WORKERS threads per
protocol (HTTP/1.1 and h2c prior knowledge) post a mix of valid and invalid
StateFun 3.x requests to the greeter-v3 and check every answer.

Valid requests carry a random `seen` state and name; the answer must be 200
with the egress `<name>:<seen + 1>` and the state mutation `seen = seen + 1`.
Invalid requests must get their exact status and a body naming the problem.
Prints one line: `mixer served=N valid=N invalid=N wrong=N errors=N`, and the
first few wrong answers on stderr.
"""
import random
import sys
import threading
import time

import httpx
from statefun.request_reply_pb2 import FromFunction, ToFunction
from statefun.types_pb2 import IntWrapper, StringWrapper

base, duration, workers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
url = base + "/statefun"
INT, STRING = "io.statefun.types/int", "io.statefun.types/string"


def request(name, seen=None, states=None, invocations=1):
    f = ToFunction()
    b = f.invocation
    b.target.namespace, b.target.type, b.target.id = "example", "greeter", name
    for state_name, typename, value in states if states is not None else [("seen", INT, seen)]:
        s = b.state.add()
        s.state_name, s.state_value.typename = state_name, typename
        if value is not None:
            s.state_value.has_value = True
            s.state_value.value = IntWrapper(value=value).SerializeToString() if typename == INT else value
    for _ in range(invocations):
        a = b.invocations.add().argument
        a.typename, a.has_value = STRING, True
        a.value = StringWrapper(value=name).SerializeToString()
    return f.SerializeToString()


def invalid_cases():
    """(method, path, body, status, fragment of the answer)"""
    valid = request("mallory", 1)
    return [
        ("POST", "/statefun", valid[: len(valid) // 2], 400, b"not a serialized ToFunction"),
        ("POST", "/statefun", b"\x0f" + valid[1:], 400, b"not a serialized ToFunction"),
        ("POST", "/statefun", request("mallory", states=[("seen", INT, 1)] * 2), 400, b"appears twice"),
        ("POST", "/statefun", request("mallory", 1, invocations=0), 400, b"has no invocations"),
        ("POST", "/statefun", request("mallory", states=[("seen", STRING, b"x")]), 400, b"is declared as"),
        ("POST", "/statefun", request("maXlory", 1).replace(b"maXlory", b"ma\xfflory", 1), 400, b"not valid UTF-8"),
        ("POST", "/nowhere", valid, 404, b"no route for /nowhere"),
        ("GET", "/statefun", b"", 405, b"not allowed"),
        ("POST", "/statefun", b"\x00" * (33 * 1024 * 1024), 413, b"exceeds the limit"),
    ]


INVALID = invalid_cases()
# The 413 case is 33 MiB: send it rarely.
WEIGHTS = [10] * (len(INVALID) - 1) + [1]
lock = threading.Lock()
totals = {"served": 0, "valid": 0, "invalid": 0, "wrong": 0, "errors": 0}
wrong_examples = []


def check_valid(response, name, seen):
    if response.status_code != 200:
        return f"status {response.status_code}: {response.content[:200]!r}"
    reply = FromFunction()
    reply.ParseFromString(response.content)
    result = reply.invocation_result
    egress = [StringWrapper.FromString(e.argument.value).value for e in result.outgoing_egresses
              if e.egress_namespace == "example" and e.egress_type == "out"]
    if egress != [f"{name}:{seen + 1}"]:
        return f"egress {egress} for {name} seen={seen}"
    mutations = [(m.state_name, IntWrapper.FromString(m.state_value.value).value) for m in result.state_mutations]
    if mutations != [("seen", seen + 1)]:
        return f"mutations {mutations} for {name} seen={seen}"
    return None


def worker(http2, seed):
    rng = random.Random(seed)
    transport = dict(http1=False, http2=True) if http2 else dict(http1=True, http2=False)
    counts = {"served": 0, "valid": 0, "invalid": 0, "wrong": 0, "errors": 0}
    wrongs = []
    deadline = time.monotonic() + duration
    with httpx.Client(base_url=base, timeout=60, **transport) as client:
        while time.monotonic() < deadline:
            try:
                if rng.random() < 0.8:
                    name, seen = "user-%d" % rng.randrange(1000), rng.randrange(1000)
                    response = client.post("/statefun", content=request(name, seen),
                                           headers={"Content-Type": "application/octet-stream"})
                    problem = check_valid(response, name, seen)
                    counts["valid"] += 1
                else:
                    # The 413 only over HTTP/1.1 (what the runtime speaks): httpx cannot take an HTTP/2
                    # answer that arrives mid-upload with RST_STREAM(NO_ERROR) (RFC 9113 §8.1) and hangs.
                    cases = INVALID[:-1] if http2 else INVALID
                    method, path, body, status, fragment = rng.choices(cases, WEIGHTS[: len(cases)])[0]
                    response = client.request(method, path, content=body or None,
                                              headers={"Content-Type": "application/octet-stream"})
                    problem = None
                    if response.status_code != status or fragment not in response.content:
                        problem = f"{method} {path}: {response.status_code} {response.content[:200]!r}, wanted {status}"
                    counts["invalid"] += 1
                counts["served"] += 1
                if problem:
                    counts["wrong"] += 1
                    wrongs.append(("h2c " if http2 else "h1 ") + problem)
            except httpx.HTTPError as error:
                # A connection the server closed after an error answer (HTTP/1.1 413) may race the next request.
                counts["errors"] += 1
                wrongs.append(f"{'h2c' if http2 else 'h1'} transport error: {error!r}")
    with lock:
        for key in totals:
            totals[key] += counts[key]
        wrong_examples.extend(wrongs[:5])


threads = [threading.Thread(target=worker, args=(http2, i * 2 + http2)) for i in range(workers) for http2 in (False, True)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for example in wrong_examples[:20]:
    print("mixer:", example, file=sys.stderr)
print("mixer " + " ".join(f"{k}={v}" for k, v in totals.items()))
