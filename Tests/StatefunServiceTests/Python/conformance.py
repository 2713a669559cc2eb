"""Conformance of the Swift SDK with the official StateFun Python SDK 2.2.2.

Sends a corpus of ToFunction requests to a Swift endpoint over HTTP and to the
Python twins of the same functions (in-process, the reference handler), decodes
both FromFunction answers and compares them field by field. A case where the
reference raises must fail on the Swift side too (a 5xx, which the runtime
retries). Prints one line per case and a closing `N passed, M failed` line.

usage: conformance.py URL
"""
import os
import sys
import traceback

import requests
from google.protobuf.any_pb2 import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "Examples", "Greeter", "Python"))

from statefun.request_reply_pb2 import ToFunction, FromFunction  # noqa: E402
from statefun.kafka_egress_pb2 import KafkaProducerRecord  # noqa: E402
from statefun.kinesis_egress_pb2 import KinesisEgressRecord  # noqa: E402
from greeter_pb2 import GreetRequest, GreetResponse, SeenCount  # noqa: E402
from showcase_pb2 import Action, Script, Ping  # noqa: E402
import twins  # noqa: E402

KNOWN = {cls.DESCRIPTOR.full_name: cls for cls in
         (GreetRequest, GreetResponse, SeenCount, Script, Ping, KafkaProducerRecord, KinesisEgressRecord)}


def packed(message):
    any = Any()
    any.Pack(message)
    return any


def request(target, states, invocations):
    """target: 'ns/type/id'; states: [(name, message or None)]; invocations: [(caller or None, message)]"""
    to_function = ToFunction()
    batch = to_function.invocation
    ns, tp, id = target.split("/", 2)
    batch.target.namespace, batch.target.type, batch.target.id = ns, tp, id
    for name, value in states:
        state = batch.state.add()
        state.state_name = name
        state.state_value = packed(value).SerializeToString() if value is not None else b""
    for caller, message in invocations:
        invocation = batch.invocations.add()
        if caller:
            ns, tp, id = caller.split("/", 2)
            invocation.caller.namespace, invocation.caller.type, invocation.caller.id = ns, tp, id
        invocation.argument.CopyFrom(message if isinstance(message, Any) else packed(message))
    return to_function.SerializeToString()


def describe_any(any):
    """An Any as (type_url, decoded fields), recursing into egress record values."""
    name = any.type_url.split("/")[-1]
    cls = KNOWN.get(name)
    if cls is None:
        return (any.type_url, any.value)
    message = cls()
    message.ParseFromString(any.value)
    fields = {f.name: v for f, v in message.ListFields()}
    return (any.type_url, fields)


def describe(body):
    """A FromFunction as plain Python values, for a field-by-field comparison."""
    reply = FromFunction()
    reply.ParseFromString(body)
    result = reply.invocation_result
    mutations = []
    for m in result.state_mutations:
        value = None
        if m.mutation_type == FromFunction.PersistedValueMutation.MODIFY:
            stored = Any()
            stored.ParseFromString(m.state_value)
            value = describe_any(stored)
        mutations.append((m.state_name, m.mutation_type, value))
    address = lambda a: "%s/%s/%s" % (a.namespace, a.type, a.id)
    return {
        "state_mutations": mutations,
        "outgoing_messages": [(address(m.target), describe_any(m.argument)) for m in result.outgoing_messages],
        "delayed_invocations": [(m.delay_in_ms, address(m.target), describe_any(m.argument))
                                for m in result.delayed_invocations],
        "outgoing_egresses": [(m.egress_namespace, m.egress_type, describe_any(m.argument))
                              for m in result.outgoing_egresses],
    }


def action(kind, **fields):
    return Action(kind=kind, **fields)


def script(*actions):
    return Script(actions=list(actions))


GREETER = "example/greeter/alice"
SHOWCASE = "example/showcase/s1"
CALLER = "example/caller/c1"


def corpus():
    greet = lambda name: GreetRequest(name=name)
    every_action = script(
        action(Action.SEND, target_type="example/a", target_id="1", text="m1"),
        action(Action.SEND_AFTER, target_type="example/b", target_id="2", delay_ms=1500, text="d1"),
        action(Action.REPLY, text="r1"),
        action(Action.KAFKA_EGRESS, target_type="example/kafka", target_id="key-1", text="topic-1"),
        action(Action.KINESIS_EGRESS, target_type="example/kinesis", target_id="pk", text="stream-1", state="hash"),
        action(Action.KINESIS_EGRESS, target_type="example/kinesis", target_id="pk", text="stream-2"),
        action(Action.EGRESS, target_type="example/out", text="e1"),
        action(Action.SET_STATE, state="note", text="n1"),
        action(Action.SEND, target_type="example/a", target_id="3", text="m2"),
    )
    return [
        ("greeter, state absent, from an ingress", GREETER, [("seen_count", None)], [(None, greet("alice"))]),
        ("greeter, state set, with a caller", GREETER, [("seen_count", SeenCount(seen=1))], [(CALLER, greet("alice"))]),
        ("greeter, 4th time and beyond", GREETER, [("seen_count", SeenCount(seen=9))], [(None, greet("alice"))]),
        ("greeter, batch with and without callers", GREETER, [("seen_count", None)],
         [(None, greet("alice")), (CALLER, greet("alice")), (None, greet("alice")), ("example/other/x", greet("alice")),
          (None, greet("alice"))]),
        ("greeter, unicode name", "example/greeter/zoë", [("seen_count", None)], [(CALLER, greet("Zoë 🚀"))]),
        ("greeter, batch of 100", GREETER, [("seen_count", SeenCount(seen=5))],
         [(CALLER if i % 3 == 0 else None, greet("n%d" % i)) for i in range(100)]),
        ("greeter, message of an undeclared type fails", GREETER, [("seen_count", None)], [(None, Ping(text="?"))]),
        ("greeter, undeclared state fails", GREETER, [], [(None, greet("alice"))]),
        ("showcase, ping from an ingress", SHOWCASE, [("pings", None), ("note", None)], [(None, Ping(text="p"))]),
        ("showcase, ping with a caller and state", SHOWCASE, [("pings", SeenCount(seen=7)), ("note", None)],
         [(CALLER, Ping(text="q"))]),
        ("showcase, every context operation", SHOWCASE, [("pings", None), ("note", Ping(text="old"))],
         [(CALLER, every_action)]),
        ("showcase, state set, deleted, set then deleted", SHOWCASE,
         [("pings", None), ("note", Ping(text="old")), ("extra", Ping(text="x")), ("fresh", None)],
         [(None, script(action(Action.DELETE_STATE, state="note"), action(Action.SET_STATE, state="fresh", text="f"),
                        action(Action.SET_STATE, state="extra", text="tmp"))),
          (None, script(action(Action.DELETE_STATE, state="extra")))]),
        ("showcase, deleting an absent state", SHOWCASE, [("pings", None), ("note", None)],
         [(None, script(action(Action.DELETE_STATE, state="note")))]),
        ("showcase, mixed message types in one batch", SHOWCASE, [("pings", None), ("note", None)],
         [(None, Ping(text="a")), (CALLER, every_action), (CALLER, Ping(text="b")), (None, Ping(text="c"))]),
        ("showcase, untouched states are not reported", SHOWCASE, [("pings", SeenCount(seen=1)), ("note", Ping(text="n"))],
         [(None, script(action(Action.SEND, target_type="example/a", target_id="1", text="only")))]),
        ("showcase, a failing invocation fails the batch", SHOWCASE, [("pings", None), ("note", None)],
         [(None, script(action(Action.SET_STATE, state="note", text="half"))), (None, script(action(Action.FAIL, text="boom")))]),
        ("showcase, reply without a caller fails", SHOWCASE, [("pings", None)],
         [(None, script(action(Action.REPLY, text="r")))]),
        ("showcase, undeclared state fails", SHOWCASE, [("pings", None)],
         [(None, script(action(Action.SET_STATE, state="nope", text="x")))]),
        ("showcase, empty Kafka topic fails", SHOWCASE, [("pings", None)],
         [(None, script(action(Action.KAFKA_EGRESS, target_type="example/kafka", target_id="k", text="")))]),
        ("showcase, empty Kinesis partition key fails", SHOWCASE, [("pings", None)],
         [(None, script(action(Action.KINESIS_EGRESS, target_type="example/kinesis", text="s")))]),
        ("showcase, zero delay fails", SHOWCASE, [("pings", None)],
         [(None, script(action(Action.SEND_AFTER, target_type="example/b", target_id="2", delay_ms=0, text="d")))]),
        ("showcase, missing id fails", SHOWCASE, [("pings", None)],
         [(None, script(action(Action.SEND, target_type="example/a", target_id="", text="m")))]),
        ("showcase, typename without namespace fails", SHOWCASE, [("pings", None)],
         [(None, script(action(Action.SEND, target_type="/a", target_id="1", text="m")))]),
    ]


def main():
    url = sys.argv[1]
    session = requests.Session()
    passed = failed = 0
    for name, target, states, invocations in corpus():
        body = request(target, states, invocations)
        try:
            expected = describe(twins.handler(body))
        except Exception as error:  # the reference failed: Swift must fail too
            expected = error
        response = session.post(url, data=body, headers={"Content-Type": "application/octet-stream"})
        try:
            if isinstance(expected, Exception):
                ok = response.status_code >= 500
                detail = "reference raised %r; swift answered %d %s" % (
                    expected, response.status_code, response.text[:200])
            else:
                ok = response.status_code == 200 and response.headers.get("Content-Type") == "application/octet-stream"
                detail = "swift answered %d %s" % (response.status_code, response.headers.get("Content-Type"))
                if ok:
                    actual = describe(response.content)
                    for key in expected:
                        if expected[key] != actual[key]:
                            ok = False
                            detail = "%s differ:\n  reference: %r\n  swift:     %r" % (key, expected[key], actual[key])
                            break
        except Exception:
            ok, detail = False, traceback.format_exc()
        if ok:
            passed += 1
            print("ok   %s" % name)
        else:
            failed += 1
            print("FAIL %s: %s" % (name, detail))
    print("conformance: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
