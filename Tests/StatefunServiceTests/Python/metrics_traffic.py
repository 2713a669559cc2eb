"""Sends a known mix of StateFun requests to a service, then scrapes its
metrics and parses them with the reference parser of the Prometheus text format.

Traffic: 5 greeter batches of 3 invocations over HTTP/1.1; 4 batches of 1 over
HTTP/2 (httpx, prior knowledge); 2 bodies that are not a ToFunction (400); 1
batch for an unbound function type (404); 3 showcase batches whose script fails (500).
Prints each sample as a JSON line: [name, {labels}, value].

usage: metrics_traffic.py BASE_URL (e.g. http://127.0.0.1:8000)
"""
import json
import os
import sys

import httpx
import requests
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(__file__))
from conformance import request  # noqa: E402
from greeter_pb2 import GreetRequest  # noqa: E402
from showcase_pb2 import Action, Script  # noqa: E402

base = sys.argv[1]
url = base + "/statefun"
headers = {"Content-Type": "application/octet-stream"}


def expect(response, status):
    assert response.status_code == status, (response.status_code, response.text)


with requests.Session() as http1:
    for i in range(5):
        body = request(f"example/greeter/h1-{i}", [("seen_count", None)],
                       [(None, GreetRequest(name=f"h1-{i}-{n}")) for n in range(3)])
        expect(http1.post(url, data=body, headers=headers), 200)
    for _ in range(2):
        expect(http1.post(url, data=b"\x08\x96\x01 not a ToFunction", headers=headers), 400)
    body = request("example/nobody/x", [], [(None, GreetRequest(name="x"))])
    expect(http1.post(url, data=body, headers=headers), 404)
    fail = Script(actions=[Action(kind=Action.FAIL, text="on purpose")])
    for i in range(3):
        body = request(f"example/showcase/s{i}", [("pings", None), ("note", None)], [(None, fail)])
        expect(http1.post(url, data=body, headers=headers), 500)

with httpx.Client(http1=False, http2=True, timeout=60) as http2:
    for i in range(4):
        body = request(f"example/greeter/h2-{i}", [("seen_count", None)], [(None, GreetRequest(name=f"h2-{i}"))])
        response = http2.post(url, content=body, headers=headers)
        assert response.http_version == "HTTP/2", response.http_version
        expect(response, 200)

scrape = requests.get(base + "/metrics")
expect(scrape, 200)
assert scrape.headers["Content-Type"].startswith("text/plain; version=0.0.4"), scrape.headers["Content-Type"]
for family in text_string_to_metric_families(scrape.text):
    for sample in family.samples:
        print(json.dumps([sample.name, sample.labels, sample.value]))
