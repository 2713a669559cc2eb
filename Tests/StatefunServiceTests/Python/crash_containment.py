"""A poison message against a supervised remote module, with traffic beside it.

Six threads post greeter batches over keep-alive HTTP/1.1 connections (a
connection that fails is replaced by a new one, as the runtime retries). Once
each has had answers, the script posts a batch to `test/poison` (a function
that traps) on a connection of its own, then polls with new connections until
a greeter batch is answered 200 again: the time that took is the outage
(also reported from the moment the poison was sent, which includes the
worker's crash handling: Swift's backtracer, when it is installed). The
traffic goes on for a second more.

Prints one JSON object: what the poison request got, the outage in seconds,
and per thread the requests that succeeded before and after the poison and
those that failed.

usage: crash_containment.py URL
"""
import json
import os
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(__file__))
from conformance import request  # noqa: E402
from greeter_pb2 import GreetRequest  # noqa: E402

URL = sys.argv[1]
THREADS = 6
stop = threading.Event()
poisoned = threading.Event()
stats = [{"ok_before": 0, "ok_after": 0, "failed": 0, "other": 0} for _ in range(THREADS)]


def greeter_body(name):
    return request(f"example/greeter/{name}", [("seen_count", None)], [(None, GreetRequest(name=name))])


def traffic(i):
    body = greeter_body(f"t{i}")
    session = requests.Session()
    while not stop.is_set():
        try:
            response = session.post(URL, data=body, timeout=30)
            key = "ok_after" if poisoned.is_set() else "ok_before"
            stats[i][key if response.status_code == 200 else "other"] += 1
        except requests.RequestException:
            stats[i]["failed"] += 1
            session = requests.Session()
            time.sleep(0.01)


threads = [threading.Thread(target=traffic, args=(i,)) for i in range(THREADS)]
for thread in threads:
    thread.start()
deadline = time.monotonic() + 60
while any(s["ok_before"] < 5 for s in stats) and time.monotonic() < deadline:
    time.sleep(0.01)

poison = request("test/poison/p1", [], [(None, GreetRequest(name="poison"))])
poisoned.set()
sent_at = time.monotonic()
try:
    outcome = str(requests.post(URL, data=poison, timeout=30).status_code)
except requests.RequestException as error:
    outcome = "connection error: " + type(error).__name__
failed_at = time.monotonic()

probe = greeter_body("probe")
recovered = since_sent = None
while time.monotonic() - failed_at < 60:
    try:
        if requests.post(URL, data=probe, timeout=30).status_code == 200:
            recovered = time.monotonic() - failed_at
            since_sent = time.monotonic() - sent_at
            break
    except requests.RequestException:
        pass
    time.sleep(0.005)

time.sleep(1)
stop.set()
for thread in threads:
    thread.join()
print(json.dumps({"poison": outcome, "outage_seconds": recovered, "since_sent_seconds": since_sent, "threads": stats}))
