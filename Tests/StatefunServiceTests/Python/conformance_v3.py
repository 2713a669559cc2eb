"""Conformance of the Swift SDK's 3.x protocol with the official StateFun Python SDK 3.3.0.

Sends a corpus of 3.x ToFunction requests to a Swift endpoint over HTTP and to
Python twins of the same functions (in-process, the reference handler), decodes
both FromFunction answers (invocation results and incomplete-context answers)
and compares them field by field. Then checks the verification module's exact
contract on its own. Prints `N passed, M failed` last.

usage: conformance_v3.py URL
"""
import os
import sys
import traceback

import requests

root = os.path.join(os.path.dirname(__file__), "..", "..", "..")
sys.path.insert(0, os.path.join(root, "Examples", "GreeterV3", "Python"))
sys.path.insert(0, os.path.join(root, "Examples", "Verification", "Python"))

from statefun import StatefulFunctions, RequestReplyHandler  # noqa: E402
from statefun.request_reply_pb2 import ToFunction, FromFunction, TypedValue  # noqa: E402
from statefun.types_pb2 import BooleanWrapper, IntWrapper, LongWrapper, FloatWrapper, DoubleWrapper, StringWrapper  # noqa: E402
from statefun.kafka_egress_pb2 import KafkaProducerRecord  # noqa: E402
from statefun.kinesis_egress_pb2 import KinesisEgressRecord  # noqa: E402
from verification_pb2 import Invoke  # noqa: E402
import greeter_v3_twins  # noqa: E402
import verification_twins  # noqa: E402

WRAPPERS = {"io.statefun.types/bool": BooleanWrapper, "io.statefun.types/int": IntWrapper,
            "io.statefun.types/long": LongWrapper, "io.statefun.types/float": FloatWrapper,
            "io.statefun.types/double": DoubleWrapper, "io.statefun.types/string": StringWrapper,
            "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord": KafkaProducerRecord,
            "type.googleapis.com/io.statefun.sdk.egress.KinesisEgressRecord": KinesisEgressRecord,
            "sdk.verification.types/org.apache.flink.statefun.sdk.verifier.Invoke": Invoke}
INVOKE = "sdk.verification.types/org.apache.flink.statefun.sdk.verifier.Invoke"

# One registry with every twin, as the Swift endpoint serves them all.
functions = StatefulFunctions()
for twins in (greeter_v3_twins, verification_twins):
    for typename, function in twins.functions._functions.items():
        functions._functions[typename] = function
reference = RequestReplyHandler(functions)


def typed(typename, message):
    value = TypedValue(typename=typename, has_value=message is not None)
    if message is not None:
        value.value = message.SerializeToString()
    return value


def string(text):
    return typed("io.statefun.types/string", StringWrapper(value=text))


def int_value(number):
    return typed("io.statefun.types/int", IntWrapper(value=number))


def request(target, states, invocations):
    """states: [(name, TypedValue)]; invocations: [(caller or None, TypedValue)]"""
    to_function = ToFunction()
    batch = to_function.invocation
    batch.target.namespace, batch.target.type, batch.target.id = target.split("/", 2)
    for name, value in states:
        state = batch.state.add()
        state.state_name = name
        state.state_value.CopyFrom(value)
    for caller, argument in invocations:
        invocation = batch.invocations.add()
        if caller:
            invocation.caller.namespace, invocation.caller.type, invocation.caller.id = caller.split("/", 2)
        invocation.argument.CopyFrom(argument)
    return to_function.SerializeToString()


def describe_typed(value):
    cls = WRAPPERS.get(value.typename)
    if cls is None or not value.has_value:
        return (value.typename, value.has_value, value.value)
    message = cls()
    message.ParseFromString(value.value)
    fields = {f.name: v for f, v in message.ListFields()}
    if cls in (KafkaProducerRecord, KinesisEgressRecord):
        fields["value_bytes"] = bytes(message.value_bytes)
    return (value.typename, fields)


def describe(body):
    reply = FromFunction()
    reply.ParseFromString(body)
    address = lambda a: "%s/%s/%s" % (a.namespace, a.type, a.id)
    if reply.WhichOneof("response") == "incomplete_invocation_context":
        return {"missing_values": [(s.state_name, s.type_typename, s.expiration_spec.mode,
                                    s.expiration_spec.expire_after_millis)
                                   for s in reply.incomplete_invocation_context.missing_values]}
    result = reply.invocation_result
    return {
        "state_mutations": [(m.state_name, m.mutation_type,
                             describe_typed(m.state_value) if m.HasField("state_value") else None)
                            for m in result.state_mutations],
        "outgoing_messages": [(address(m.target), describe_typed(m.argument)) for m in result.outgoing_messages],
        "delayed_invocations": [(m.is_cancellation_request, m.cancellation_token, m.delay_in_ms, address(m.target),
                                 describe_typed(m.argument) if m.HasField("argument") else None)
                                for m in result.delayed_invocations],
        "outgoing_egresses": [(m.egress_namespace, m.egress_type, describe_typed(m.argument))
                              for m in result.outgoing_egresses],
    }


GREETER = "example/greeter/alice"
AUDIT = "example/audit/alice"
TYPES = "sdk.verification.functions/types-validation/t1"
INTERPRETER = "sdk.verification.functions/command-interpreter/c1"
CALLER = "example/caller/c1"
ABSENT_INT = TypedValue(typename="io.statefun.types/int", has_value=False)


def invoke(command):
    return typed(INVOKE, Invoke(command=command))


def interpreter_states(a=None, b=None, c=None):
    return [("state-a", a or ABSENT_INT),
            ("state-b", b or TypedValue(typename="io.statefun.types/bool", has_value=False)),
            ("state-c", c or TypedValue(typename="io.statefun.types/string", has_value=False))]


def corpus():
    return [
        ("greeter, state absent", GREETER, [("seen", ABSENT_INT)], [(None, string("alice"))]),
        ("greeter, 9 -> 10 tells the auditor", GREETER, [("seen", int_value(9))], [(None, string("alice"))]),
        ("greeter, batch of 25", GREETER, [("seen", int_value(3))], [(None, string("alice")) for _ in range(25)]),
        ("greeter, missing state -> incomplete context", GREETER, [], [(None, string("alice"))]),
        ("greeter, undeclared states are ignored", GREETER, [("other", int_value(5)), ("seen", int_value(1))],
         [(CALLER, string("alice"))]),
        ("greeter, unicode", "example/greeter/zoë", [("seen", ABSENT_INT)], [(None, string("Zoë 🚀"))]),
        ("audit", AUDIT, [("audits", int_value(41))], [(None, string("alice reached 10"))]),
        ("audit, missing state", AUDIT, [], [(None, string("x"))]),
        ("types, every built-in", TYPES, [],
         [(CALLER, typed("io.statefun.types/bool", BooleanWrapper(value=True))),
          (CALLER, typed("io.statefun.types/bool", BooleanWrapper(value=False))),
          (CALLER, int_value(41)), (CALLER, int_value(-1)), (CALLER, int_value(2147483646)),
          (CALLER, typed("io.statefun.types/float", FloatWrapper(value=1.5))),
          (CALLER, typed("io.statefun.types/long", LongWrapper(value=-12345678901))),
          (CALLER, typed("io.statefun.types/double", DoubleWrapper(value=0.1))),
          (CALLER, string("Hello WORLD")), (CALLER, string(""))]),
        ("interpreter, missing every state", INTERPRETER, [], [(CALLER, invoke(Invoke.SEND_TO_SELF))]),
        ("interpreter, missing two states", INTERPRETER, [("state-a", ABSENT_INT)], [(None, invoke(Invoke.SEND_TO_SELF))]),
        ("interpreter, every command", INTERPRETER, interpreter_states(),
         [(None, invoke(c)) for c in (Invoke.SEND_TO_SELF, Invoke.SEND_TO_TARGET, Invoke.DELAYED_SEND_TO_TARGET,
                                      Invoke.SEND_TO_KAFKA_EGRESS, Invoke.SEND_TO_KINESIS_EGRESS,
                                      Invoke.INCREMENT_INT_STATE_A, Invoke.TOGGLE_BOOL_STATE_B,
                                      Invoke.CLEAR_STRING_STATE_C)]),
        ("interpreter, states present", INTERPRETER,
         interpreter_states(int_value(6), typed("io.statefun.types/bool", BooleanWrapper(value=True)), string("c")),
         [(None, invoke(Invoke.INCREMENT_INT_STATE_A)), (None, invoke(Invoke.INCREMENT_INT_STATE_A)),
          (None, invoke(Invoke.TOGGLE_BOOL_STATE_B)), (None, invoke(Invoke.CLEAR_STRING_STATE_C))]),
        ("interpreter, its own strings do nothing", INTERPRETER, interpreter_states(), [(None, string("hello world!"))]),
    ]


def contract_checks(post):
    """The verification module's contract, checked on its own terms (not against the twin)."""
    checks = []
    answer = describe(post(request(TYPES, [], [(CALLER, int_value(41)), (CALLER, string("MiXeD"))])))
    checks.append(("types-validation int +1, string lower-cased", answer["outgoing_messages"] == [
        (CALLER, ("io.statefun.types/int", {"value": 42})),
        (CALLER, ("io.statefun.types/string", {"value": "mixed"}))]))
    answer = describe(post(request(INTERPRETER, interpreter_states(), [(None, invoke(Invoke.SEND_TO_KAFKA_EGRESS))])))
    egress = answer["outgoing_egresses"]
    checks.append(("kafka egress record with the int 1108", len(egress) == 1 and egress[0][:2] == (
        "target.namespace", "target.kafka") and egress[0][2][1]["topic"] == "target.topic"
        and egress[0][2][1]["key"] == "my-key" and egress[0][2][1]["value_bytes"] == IntWrapper(
            value=1108).SerializeToString()))
    answer = describe(post(request(INTERPRETER, [], [(None, invoke(Invoke.SEND_TO_SELF))])))
    checks.append(("incomplete context lists the specs", answer == {"missing_values": [
        ("state-a", "io.statefun.types/int", 0, 0), ("state-b", "io.statefun.types/bool", 1, 86400000),
        ("state-c", "io.statefun.types/string", 2, 300000)]}))
    return checks


def main():
    session = requests.Session()

    def post(body):
        response = session.post(sys.argv[1], data=body, headers={"Content-Type": "application/octet-stream"})
        if response.status_code != 200 or response.headers.get("Content-Type") != "application/octet-stream":
            raise AssertionError("swift answered %d %s: %s" % (
                response.status_code, response.headers.get("Content-Type"), response.text[:300]))
        return response.content

    passed = failed = 0
    for name, target, states, invocations in corpus():
        body = request(target, states, invocations)
        try:
            expected = describe(reference.handle_sync(body))
            actual = describe(post(body))
            differences = ["%s differ:\n  reference: %r\n  swift:     %r" % (key, expected[key], actual.get(key))
                           for key in expected if expected[key] != actual.get(key)]
            ok, detail = not differences and expected.keys() == actual.keys(), "; ".join(differences) or repr(actual)
        except Exception:
            ok, detail = False, traceback.format_exc()
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
        print(("ok   %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    for name, ok in contract_checks(post):
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
        print(("ok   contract: %s" % name) if ok else ("FAIL contract: %s" % name))
    print("conformance v3: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
