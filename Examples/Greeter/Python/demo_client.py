"""Drives the greeter as the StateFun runtime would: it posts ToFunction batches
for several ids, keeps each id's state from the mutations it gets back, and
prints every greeting that comes back on the egress.

usage: demo_client.py URL
"""
import sys

import requests
from google.protobuf.any_pb2 import Any
from statefun.request_reply_pb2 import ToFunction, FromFunction
from statefun.kafka_egress_pb2 import KafkaProducerRecord

from greeter_pb2 import GreetRequest, GreetResponse


def batch(name, state, count):
    to_function = ToFunction()
    invocation = to_function.invocation
    invocation.target.namespace, invocation.target.type, invocation.target.id = "example", "greeter", name
    declared = invocation.state.add()
    declared.state_name = "seen_count"
    declared.state_value = state
    for _ in range(count):
        envelope = Any()
        envelope.Pack(GreetRequest(name=name))
        invocation.invocations.add().argument.CopyFrom(envelope)
    return to_function.SerializeToString()


def main():
    url = sys.argv[1]
    session = requests.Session()
    states = {}
    # Round r sends each name a batch; bob's batches hold two messages, as the
    # runtime batches messages that arrive while a request is in flight.
    plan = [("alice", 1), ("bob", 2), ("carol", 1)]
    total = 0
    for round in range(1, 4):
        for name, count in plan:
            response = session.post(url, data=batch(name, states.get(name, b""), count),
                                    headers={"Content-Type": "application/octet-stream"})
            if response.status_code != 200:
                sys.exit("greeter answered %d: %s" % (response.status_code, response.text))
            reply = FromFunction()
            reply.ParseFromString(response.content)
            result = reply.invocation_result
            for mutation in result.state_mutations:
                states[name] = mutation.state_value if mutation.mutation_type == 1 else b""
            for egress in result.outgoing_egresses:
                record = KafkaProducerRecord()
                egress.argument.Unpack(record)
                greeting = GreetResponse()
                greeting.ParseFromString(record.value_bytes)
                total += 1
                print("round %d  %-6s -> %s" % (round, name, greeting.greeting), flush=True)
    print("%d greetings from %d batches" % (total, 3 * len(plan)))


if __name__ == "__main__":
    main()
