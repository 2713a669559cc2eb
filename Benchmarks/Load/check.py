"""Checks one endpoint's answer to a load payload, with the official SDK's
protocol classes: the egress records, the greeting count and the state written.

usage: check.py v2|v3 PAYLOAD.check RESPONSE.bin   (exit 0 when right)
"""
import json
import sys

version, check_path, response_path = sys.argv[1:4]
check = json.load(open(check_path))
body = open(response_path, "rb").read()

from statefun.request_reply_pb2 import FromFunction  # noqa: E402

reply = FromFunction()
reply.ParseFromString(body)
result = reply.invocation_result
problems = []
if len(result.outgoing_egresses) != check["egress"]:
    problems.append(f"{len(result.outgoing_egresses)} egress messages, expected {check['egress']}")
if len(result.state_mutations) != 1:
    problems.append(f"{len(result.state_mutations)} state mutations, expected 1")
else:
    mutation = result.state_mutations[0]
    if version == "v2":
        import os
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../Examples/Greeter/Python"))
        from google.protobuf.any_pb2 import Any
        from greeter_pb2 import SeenCount
        stored = Any()
        stored.ParseFromString(mutation.state_value)
        count = SeenCount()
        stored.Unpack(count)
        seen = count.seen
        if len(stored.value) < check.get("state_bytes_at_least", 0):
            problems.append(f"state of {len(stored.value)} bytes, expected at least {check['state_bytes_at_least']}")
    else:
        from statefun.types_pb2 import IntWrapper
        wrapper = IntWrapper()
        wrapper.ParseFromString(mutation.state_value.value)
        seen = wrapper.value
    if seen != check["seen"]:
        problems.append(f"seen {seen}, expected {check['seen']}")
if problems:
    print("; ".join(problems))
    sys.exit(1)
