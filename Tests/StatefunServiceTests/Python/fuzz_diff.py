"""Differential fuzzing of the Swift examples, the official StateFun Python SDKs as the oracle.

Mutated valid ToFunction requests are sent over HTTP to a Swift example server
(greeter for the 2.x protocol, greeter-v3 for 3.x) and handed, in-process, to
Python twins of the same functions written with the official SDK (2.2.2's
RequestReplyHandler, called on the bytes; 3.3.0's handle_async on one event
loop). Run it with the venv of the protocol's SDK: .venv (2.2.2) for v2,
.venv-v3 (3.3.0) for v3 (both SDKs are the package `statefun`).

What must hold for every input:
- the SDK answers: Swift answers 200, and both FromFunction messages, decoded
  with the SDK's own generated classes (payloads too: Any, TypedValue, egress
  records), are equal field by field. One normalisation: state mutations are
  compared sorted by state name (stably), because the runtime applies the
  mutations of different states independently and the order of the names is
  not part of the protocol (the SDK emits them in the order of the request's
  states, 3.x in the order of the specs); several mutations of one name keep
  their order. Floats are compared bit for bit (NaN included). Delays are
  compared as doubles: the Python SDKs compute them through one.
- the SDK raises before any function ran (ToFunction does not parse, no
  function of that type, no target, no target id): Swift answers 4xx.
- the SDK raises inside the batch (its function raised, a payload or state did
  not decode, a value out of range...): Swift answers 4xx, or 500 as the
  function failed. (The report tells 'input' - a DecodeError or
  UnicodeDecodeError, a state of another type than its spec - from 'function'
  - anything else - but both accept the same answers: Swift may check the
  data before it runs the function, and an input may hold several faults that
  the two sides meet in another order.)
- Swift never dies (the process is checked after every case; a death is
  reported with its signal and the server's last log lines, and the server is
  started again) and never hangs (every request has a timeout; a hang is
  reported, the server killed and started again).

Cases: the files of --regressions first (each one input), then --cases
generated ones from --seed: valid seed requests with boundary values of every
built-in type and counters at their maximum, most of them mutated (bit flips,
truncation, duplicated, split and concatenated fields, wrong wire types,
oversized varints, NULs in strings, invalid UTF-8, unknown fields...).

Each disagreement is printed (the first --details of each category in full:
input in hex and both answers; the rest one line each), written to --out
(<category>-<sha>.bin and .txt) when given, and grouped by category: the SDK's
outcome, Swift's outcome and the input's most telling feature (a NUL in a
string field, a non-repeated message field that occurs twice, invalid UTF-8, a
counter at its maximum...), which is the best guess at its root cause. Exit
status 1 when any case disagrees.

usage: fuzz_diff.py --protocol v2|v3 --server PATH [--cases N] [--seed S]
                    [--regressions DIR] [--out DIR] [--timeout SECONDS]
"""
import argparse
import asyncio
import hashlib
import http.client
import math
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Examples", "Greeter", "Python"))
sys.path.insert(0, os.path.join(ROOT, "Examples", "GreeterV3", "Python"))

from google.protobuf.message import DecodeError  # noqa: E402
from google.protobuf.any_pb2 import Any  # noqa: E402

INT32_MAX, INT32_MIN = 2 ** 31 - 1, -2 ** 31
INT64_MAX, INT64_MIN = 2 ** 63 - 1, -2 ** 63
UINT64_MAX = 2 ** 64 - 1

# --------------------------------------------------------------------------------------------------
# The wire format, schema-less: a message is a list of fields; a length-delimited field that parses
# as a message (and is not empty) also keeps its fields, so that mutations reach nested messages.
# --------------------------------------------------------------------------------------------------

VARINT, FIXED64, LEN, SGROUP, EGROUP, FIXED32 = 0, 1, 2, 3, 4, 5


def encode_varint(value, width=None):
    """A varint of `value` (two's complement for negatives); `width` pads it with continuation bytes."""
    value &= UINT64_MAX
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or (width is not None and len(out) + 1 < width):
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


OVERFLOWS = [0]  # varints read whose 10th byte had bits past the 64th (protobuf drops them)


def read_varint(data, i):
    value, shift = 0, 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if value > UINT64_MAX:
                OVERFLOWS[0] += 1
            return value & UINT64_MAX, i


class Field:
    __slots__ = ("number", "wire", "value", "children")

    def __init__(self, number, wire, value, children=None):
        self.number, self.wire, self.value, self.children = number, wire, value, children

    def copy(self):
        return Field(self.number, self.wire, self.value,
                     None if self.children is None else [f.copy() for f in self.children])


def parse_fields(data, depth=0):
    """The fields of `data`, or None when it is not a well-formed message (groups are not parsed)."""
    fields, i = [], 0
    try:
        while i < len(data):
            key, i = read_varint(data, i)
            number, wire = key >> 3, key & 7
            if number == 0 or number >= 2 ** 29:
                return None
            if wire == VARINT:
                value, i = read_varint(data, i)
                fields.append(Field(number, wire, value))
            elif wire == FIXED64 or wire == FIXED32:
                size = 8 if wire == FIXED64 else 4
                if i + size > len(data):
                    return None
                fields.append(Field(number, wire, data[i:i + size]))
                i += size
            elif wire == LEN:
                size, i = read_varint(data, i)
                if i + size > len(data):
                    return None
                payload = data[i:i + size]
                i += size
                children = parse_fields(payload, depth + 1) if payload and depth < 8 else None
                fields.append(Field(number, wire, payload, children or None))
            elif wire == SGROUP:
                end = skip_group(data, i, number)
                if end is None:
                    return None
                fields.append(Field(number, SGROUP, data[i:end]))  # up to and with its end tag
                i = end
            else:
                return None
    except ValueError:
        return None
    return fields


def skip_group(data, i, number):
    """The index just past the end tag of the group `number` that starts at `i`, or None."""
    while i < len(data):
        key, i = read_varint(data, i)
        wire = key & 7
        if wire == EGROUP:
            return i if key >> 3 == number else None
        if wire == VARINT:
            _, i = read_varint(data, i)
        elif wire in (FIXED64, FIXED32):
            i += 8 if wire == FIXED64 else 4
        elif wire == LEN:
            size, i = read_varint(data, i)
            i += size
        elif wire == SGROUP:
            i = skip_group(data, i, key >> 3)
            if i is None:
                return None
        else:
            return None
    return None


def serialize(fields):
    out = bytearray()
    for f in fields:
        out += encode_varint((f.number << 3) | f.wire)
        if f.wire == VARINT:
            out += encode_varint(f.value)
        elif f.wire == LEN:
            payload = serialize(f.children) if f.children is not None else f.value
            out += encode_varint(len(payload)) + payload
        else:
            out += f.value
    return bytes(out)


def all_nodes(fields, depth=0):
    """(list, index, depth) of every field, nested ones included."""
    for index, f in enumerate(fields):
        yield fields, index, depth
        if f.children is not None:
            yield from all_nodes(f.children, depth + 1)


# --------------------------------------------------------------------------------------------------
# Mutations. Each takes the request's bytes and a random generator and returns new bytes, or None
# when it does not apply to this input.
# --------------------------------------------------------------------------------------------------

INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"]
ODD_STRINGS = [b"", b"\x00", b"a\x00b", b"\x00\x00", "Zo\u00eb \U0001F680".encode(), b"x" * 300, b" ", b"/", b"a/b",
               b"example", b"example/greeter", b"\xef\xbb\xbf", b"\xf0\x9f\x98\x80" * 3]
BOUNDARY_VARINTS = [0, 1, 2, 0x7F, 0x80, INT32_MAX, INT32_MAX + 1, INT32_MIN, UINT64_MAX, INT64_MAX, INT64_MIN,
                    2 ** 32 - 1, 2 ** 32, 9, 10]


def leaves(fields):
    """Length-delimited fields that did not parse as messages: strings and bytes."""
    return [(lst, i) for lst, i, _ in all_nodes(fields) if lst[i].wire == LEN and lst[i].children is None]


def with_tree(mutate):
    def run(data, rng):
        fields = parse_fields(data)
        if not fields:
            return None
        if mutate(fields, rng) is False:
            return None
        return serialize(fields)
    run.__name__ = mutate.__name__
    return run


def bit_flip(data, rng):
    if not data:
        return None
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3, 4])):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_set(data, rng):
    if not data:
        return None
    out = bytearray(data)
    out[rng.randrange(len(out))] = rng.choice([0, 0xFF, 0x7F, 0x80, 0x01, rng.randrange(256)])
    return bytes(out)


def truncate(data, rng):
    if len(data) < 2:
        return None
    return data[:rng.randrange(1, len(data))]


def splice_bytes(data, rng):
    """Inserts or deletes a few bytes, or duplicates a chunk in place."""
    if not data:
        return None
    i = rng.randrange(len(data))
    kind = rng.randrange(3)
    if kind == 0:
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))) + data[i:]
    if kind == 1:
        return data[:i] + data[i + rng.randint(1, 4):]
    j = rng.randint(i, min(len(data), i + 16))
    return data[:j] + data[i:j] + data[j:]


def concat_self(data, rng):
    return data + data


@with_tree
def duplicate_field(fields, rng):
    lst, i, _ = rng.choice(list(all_nodes(fields)))
    copy = lst[i].copy()
    lst.insert(rng.choice([i + 1, len(lst)]), copy)


@with_tree
def split_message_field(fields, rng):
    """A message field as two occurrences, each with part of its fields (protobuf merges them)."""
    candidates = [(lst, i) for lst, i, _ in all_nodes(fields) if lst[i].children and len(lst[i].children) >= 1]
    if not candidates:
        return False
    lst, i = rng.choice(candidates)
    f = lst[i]
    cut = rng.randint(0, len(f.children))
    first, second = Field(f.number, LEN, b"", f.children[:cut]), Field(f.number, LEN, b"", f.children[cut:])
    for part in (first, second):
        if not part.children:
            part.children, part.value = None, b""
    lst[i:i + 1] = [first, second]


@with_tree
def remove_field(fields, rng):
    lst, i, _ = rng.choice(list(all_nodes(fields)))
    del lst[i]


@with_tree
def shuffle_fields(fields, rng):
    containers = [fields] + [lst[i].children for lst, i, _ in all_nodes(fields) if lst[i].children]
    container = rng.choice(containers)
    rng.shuffle(container)


@with_tree
def wrong_wire_type(fields, rng):
    lst, i, _ = rng.choice(list(all_nodes(fields)))
    f = lst[i]
    wire = rng.choice([w for w in (VARINT, FIXED64, LEN, FIXED32) if w != f.wire])
    payload = {VARINT: rng.choice(BOUNDARY_VARINTS), FIXED64: bytes(rng.randrange(256) for _ in range(8)),
               FIXED32: bytes(rng.randrange(256) for _ in range(4)),
               LEN: f.value if isinstance(f.value, bytes) else encode_varint(f.value)}[wire]
    lst[i] = Field(f.number, wire, payload)


@with_tree
def unknown_field(fields, rng):
    containers = [fields] + [lst[i].children for lst, i, _ in all_nodes(fields) if lst[i].children]
    container = rng.choice(containers)
    number = rng.choice([4, 5, 7, 15, 16, 99, 101, 1000, 2 ** 29 - 1])
    wire = rng.choice([VARINT, FIXED64, LEN, FIXED32])
    value = {VARINT: rng.choice(BOUNDARY_VARINTS), FIXED64: b"\x01" * 8, FIXED32: b"\x02" * 4,
             LEN: rng.choice([b"", b"junk", b"\x08\x01"])}[wire]
    container.insert(rng.randint(0, len(container)), Field(number, wire, value))


def group_field(data, rng):
    """An unknown group (wire types 3 and 4), well formed or not, inserted at the top level."""
    number = rng.choice([5, 9, 100, 101])
    start, end = encode_varint((number << 3) | SGROUP), encode_varint((number << 3) | EGROUP)
    body = rng.choice([b"", b"\x08\x01", b"\x12\x00"])
    group = rng.choice([start + body + end, start + body, body + end, start + body + encode_varint(((number + 1) << 3) | 4)])
    return group + data if rng.random() < 0.5 else data + group


def oversized_varint_bytes(data, rng):
    """A varint (value or length) re-encoded longer: padded up to 10 bytes (valid protobuf), or
    past 10 bytes or with bits beyond the 64th (invalid)."""
    fields = parse_fields(data)
    if not fields:
        return None
    if _oversized(fields, rng) is False:
        return None
    return _serialize_raw(fields)


def _serialize_raw(fields):
    out = bytearray()
    for f in fields:
        if f.wire == "raw":
            out += f.value
        elif f.wire == LEN and f.children is not None:
            payload = _serialize_raw(f.children)
            out += encode_varint((f.number << 3) | LEN) + encode_varint(len(payload)) + payload
        else:
            out += serialize([f])
    return bytes(out)


def _oversized(fields, rng):
    lst, i, _ = rng.choice(list(all_nodes(fields)))
    f = lst[i]
    if f.wire == VARINT:
        value = f.value
    elif f.wire == LEN:
        value = len(serialize(f.children) if f.children is not None else f.value)
    else:
        return False
    ten = encode_varint(value, width=10)
    kind = rng.randrange(3) if len(encode_varint(value)) < 10 else rng.randrange(1, 3)
    if kind == 0:
        encoded = encode_varint(value, width=rng.randint(len(encode_varint(value)) + 1, 10))
    elif kind == 1:
        encoded = ten[:-1] + bytes([ten[-1] | 0x80]) + b"\x00"  # 11 bytes
    else:
        encoded = ten[:-1] + bytes([ten[-1] | 0x7E])  # bits past the 64th
    raw = encode_varint((f.number << 3) | f.wire) + encoded
    if f.wire == LEN:
        raw += serialize(f.children) if f.children is not None else f.value
    lst[i] = Field(f.number, "raw", raw)



def inserting(name, choices):
    """The mutation `name`: one of `choices` inserted at a random place of a random leaf field."""
    def insert(fields, rng):
        candidates = leaves(fields)
        if not candidates:
            return False
        lst, i = rng.choice(candidates)
        value = lst[i].value
        at = rng.randint(0, len(value))
        lst[i].value = value[:at] + rng.choice(choices) + value[at:]
    insert.__name__ = name
    return with_tree(insert)


nul_in_string = inserting("nul_in_string", [b"\x00", b"\x00other", b"\x00\x00"])
invalid_utf8 = inserting("invalid_utf8", INVALID_UTF8)


@with_tree
def odd_string(fields, rng):
    candidates = leaves(fields)
    if not candidates:
        return False
    lst, i = rng.choice(candidates)
    lst[i].value = rng.choice(ODD_STRINGS)


@with_tree
def boundary_varint(fields, rng):
    candidates = [(lst, i) for lst, i, _ in all_nodes(fields) if lst[i].wire == VARINT]
    if not candidates:
        return False
    lst, i = rng.choice(candidates)
    lst[i].value = rng.choice(BOUNDARY_VARINTS) & UINT64_MAX


@with_tree
def empty_message_field(fields, rng):
    candidates = [(lst, i) for lst, i, _ in all_nodes(fields) if lst[i].children]
    if not candidates:
        return False
    lst, i = rng.choice(candidates)
    lst[i].children, lst[i].value = None, b""


MUTATIONS = [
    (bit_flip, 14), (byte_set, 4), (truncate, 8), (splice_bytes, 4), (concat_self, 4), (duplicate_field, 10),
    (split_message_field, 8), (remove_field, 5), (shuffle_fields, 3), (wrong_wire_type, 6), (unknown_field, 4),
    (group_field, 2), (oversized_varint_bytes, 5), (nul_in_string, 7), (invalid_utf8, 7), (odd_string, 4),
    (boundary_varint, 6), (empty_message_field, 3),
]


def mutate(data, rng):
    """1 to 3 mutations of `data`, and their names."""
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        for _attempt in range(5):
            function = rng.choices([m for m, _ in MUTATIONS], weights=[w for _, w in MUTATIONS])[0]
            result = function(data, rng)
            if result is not None:
                data = result
                names.append(function.__name__)
                break
    return data, names


# --------------------------------------------------------------------------------------------------
# The protocols: seeds, the oracle, payload decoding, schema features.
# --------------------------------------------------------------------------------------------------

class Protocol:
    """What differs between 2.x and 3.x."""


def make_v2():
    import statefun
    if hasattr(statefun, "ValueSpec"):
        sys.exit("fuzz_diff.py --protocol v2 needs the 2.2.2 SDK (.venv), not 3.x")
    from statefun.request_reply_pb2 import ToFunction, FromFunction
    from statefun.kafka_egress_pb2 import KafkaProducerRecord
    from statefun.kinesis_egress_pb2 import KinesisEgressRecord
    from greeter_pb2 import GreetRequest, GreetResponse, SeenCount
    from showcase_pb2 import Action, Script, Ping
    import twins

    p = Protocol()
    p.name, p.FromFunction = "v2", FromFunction
    p.user_files = {os.path.abspath(twins.__file__)}
    p.function_frames = {"handle_invocation", "complete"}
    known = {c.DESCRIPTOR.full_name: c for c in
             (GreetRequest, GreetResponse, SeenCount, Script, Action, Ping, KafkaProducerRecord, KinesisEgressRecord)}

    def oracle(body):
        return twins.handler(body)
    p.oracle = oracle

    def packed(message):
        any = Any()
        any.Pack(message)
        return any

    names = ["alice", "bob", "", "Zo\u00eb \U0001F680", "x" * 200, "n\u00e4me", " "] * 6 + ["a\x00b", "\x00"]
    ids = ["alice", "zo\u00eb", "id/with/slashes", "42"] * 8 + ["c-1\x00other", "\x00"]
    counts = [None, 0, 1, 2, 3, 9, 41, INT64_MAX - 1, INT64_MIN, -1, INT32_MAX, INT32_MAX + 1]

    def caller(rng):
        return rng.choice([None, None, None, ("example", "caller", "c1"), ("example", "other", "x"), ("", "", "")] * 5
                          + [("example", "caller", "c-1\x00other"), ("ns\x00x", "t", "i")])

    def build(target, states, invocations):
        to_function = ToFunction()
        batch = to_function.invocation
        batch.target.namespace, batch.target.type, batch.target.id = target
        for name, value in states:
            state = batch.state.add()
            state.state_name = name
            state.state_value = value
        for who, argument in invocations:
            invocation = batch.invocations.add()
            if who:
                invocation.caller.namespace, invocation.caller.type, invocation.caller.id = who
            invocation.argument.CopyFrom(argument)
        return to_function.SerializeToString()

    def seen_state(rng):
        count = INT64_MAX if rng.random() < 0.05 else rng.choice(counts)  # the counter at its maximum
        if count is None:
            return b""
        return packed(SeenCount(seen=count)).SerializeToString()

    def action(rng):
        kind = rng.choice([Action.SEND, Action.REPLY, Action.SEND_AFTER, Action.KAFKA_EGRESS, Action.KINESIS_EGRESS,
                           Action.SET_STATE, Action.DELETE_STATE, Action.EGRESS, Action.SEND, Action.SET_STATE])
        if rng.random() < 0.03:
            kind = Action.FAIL
        return Action(kind=kind, target_type=rng.choice(["example/a", "example/kafka", "example/out", "a/b/c"] * 5
                                                        + ["ex\x00/a"]),
                      target_id=rng.choice(["1", "key-1", "pk"] * 6 + ["c-1\x00x"]),
                      delay_ms=rng.choice([1, 1500, INT32_MAX, INT64_MAX // 1000]),
                      text=rng.choice(["m", "topic-1", "stream", "Zo\u00eb"] * 5 + ["t\x00u"]),
                      state=rng.choice(["note", "pings", "note", "hash"]))

    def seed(rng):
        roll = rng.random()
        if roll < 0.65:
            target = ("example", "greeter", rng.choice(ids))
            states = [("seen_count", seen_state(rng))]
            if rng.random() < 0.1:
                states = []  # the function's state is missing: it raises
            elif rng.random() < 0.15:
                states.append(("other", packed(Ping(text="o")).SerializeToString()))
            invocations = []
            for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
                argument = packed(GreetRequest(name=rng.choice(names)))
                if rng.random() < 0.04:
                    argument = packed(Ping(text="?"))
                invocations.append((caller(rng), argument))
            return build(target, states, invocations)
        if roll < 0.95:
            target = ("example", "showcase", rng.choice(ids))
            states = [("pings", seen_state(rng) if rng.random() < 0.7 else packed(Ping(text="p")).SerializeToString()),
                      ("note", b"" if rng.random() < 0.5 else packed(Ping(text="old")).SerializeToString())]
            if rng.random() < 0.3:
                states.append(("hash", b""))
            invocations = []
            for _ in range(rng.choice([1, 1, 2, 3])):
                if rng.random() < 0.3:
                    argument = packed(Ping(text=rng.choice(names)))
                else:
                    argument = packed(Script(actions=[action(rng) for _ in range(rng.randint(0, 4))]))
                invocations.append((caller(rng), argument))
            return build(target, states, invocations)
        target = rng.choice([("example", "nobody", "x"), ("", "", ""), ("example", "greeter", "")])
        return build(target, [("seen_count", seen_state(rng))], [(None, packed(GreetRequest(name="a")))])
    p.seed = seed

    def describe_any(any):
        cls = known.get(any.type_url.split("/")[-1])
        return ("Any", any.type_url, decode_payload(cls, any.value))

    def decode_payload(cls, data):
        if cls is None:
            return ("bytes", bytes(data))
        message = cls()
        try:
            message.ParseFromString(data)
        except Exception:
            return ("undecodable " + cls.DESCRIPTOR.full_name, bytes(data))
        # An egress record's value stays bytes (both sides serialize the same message deterministically).
        return (cls.DESCRIPTOR.full_name, canonical(message))

    def canonical_reply(reply):
        result = reply.invocation_result
        mutations = []
        for m in result.state_mutations:
            value = None
            if m.mutation_type == FromFunction.PersistedValueMutation.MODIFY:
                stored = Any()
                try:
                    stored.ParseFromString(m.state_value)
                    value = describe_any(stored)
                except Exception:
                    value = ("undecodable Any", bytes(m.state_value))
            mutations.append((m.state_name, m.mutation_type, value))
        # No response at all (the SDK leaves the oneof unset when a batch had no effect) is compared
        # as an empty invocation result: the runtime reads both as the default InvocationResponse.
        return {"response": reply.WhichOneof("response") or "invocation_result",
                "other fields": [(n, v) for n, v in canonical(reply) if n != "invocation_result"],
                "state_mutations": sorted(mutations, key=lambda m: m[0]),
                "invocation_result": [(n, v) for n, v in canonical(result, describe_any) if n != "state_mutations"]}
    p.canonical_reply = canonical_reply

    p.schema = {
        "ToFunction": {100: ("msg", "Batch", False)},
        "Batch": {1: ("msg", "Address", False), 2: ("msg", "State", True), 3: ("msg", "Invocation", True)},
        "Address": {1: ("str", None, False), 2: ("str", None, False), 3: ("str", None, False)},
        "State": {1: ("str", None, False), 2: ("bytes", "Any", False)},
        "Invocation": {1: ("msg", "Address", False), 2: ("msg", "Any", False)},
        "Any": {1: ("str", None, False), 2: ("payload", None, False)},
    }
    p.payloads = {
        "example.GreetRequest": {1: ("value-str", None, False)},
        "example.SeenCount": {1: ("counter", None, False)},
        "example.Ping": {1: ("value-str", None, False)},
        "example.Script": {1: ("msg", "Action", True)},
        "Action": {1: ("int", None, False), 2: ("value-str", None, False), 3: ("value-str", None, False),
                   4: ("int", None, False), 5: ("value-str", None, False), 6: ("value-str", None, False)},
    }
    p.payload_key = lambda type_url: type_url.split("/")[-1]
    return p


def make_v3():
    import statefun
    if not hasattr(statefun, "ValueSpec"):
        sys.exit("fuzz_diff.py --protocol v3 needs the 3.3.0 SDK (.venv-v3), not 2.x")
    from statefun import RequestReplyHandler
    from statefun.request_reply_pb2 import ToFunction, FromFunction, TypedValue
    from statefun.types_pb2 import BooleanWrapper, IntWrapper, LongWrapper, FloatWrapper, DoubleWrapper, StringWrapper
    from statefun.kafka_egress_pb2 import KafkaProducerRecord
    from statefun.kinesis_egress_pb2 import KinesisEgressRecord
    import greeter_v3_twins

    p = Protocol()
    p.name, p.FromFunction = "v3", FromFunction
    p.user_files = {os.path.abspath(greeter_v3_twins.__file__)}
    p.function_frames = {"collect_success"}
    handler = RequestReplyHandler(greeter_v3_twins.functions)
    loop = asyncio.new_event_loop()

    def oracle(body):
        return loop.run_until_complete(handler.handle_async(body))
    p.oracle = oracle

    wrappers = {"io.statefun.types/bool": BooleanWrapper, "io.statefun.types/int": IntWrapper,
                "io.statefun.types/long": LongWrapper, "io.statefun.types/float": FloatWrapper,
                "io.statefun.types/double": DoubleWrapper, "io.statefun.types/string": StringWrapper,
                "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord": KafkaProducerRecord,
                "type.googleapis.com/io.statefun.sdk.egress.KinesisEgressRecord": KinesisEgressRecord}

    def typed(typename, message):
        value = TypedValue(typename=typename, has_value=message is not None)
        if message is not None:
            value.value = message.SerializeToString()
        return value

    boundary = {
        "io.statefun.types/int": (IntWrapper, [0, 1, -1, 9, INT32_MAX, INT32_MAX - 1, INT32_MIN]),
        "io.statefun.types/long": (LongWrapper, [0, -1, INT64_MAX, INT64_MIN, INT32_MAX + 1]),
        "io.statefun.types/bool": (BooleanWrapper, [True, False]),
        "io.statefun.types/float": (FloatWrapper, [0.0, -0.0, 1.5, math.inf, -math.inf, math.nan, 3.4028234663852886e38,
                                                   1e-45]),
        "io.statefun.types/double": (DoubleWrapper, [0.0, -0.0, 0.1, math.inf, math.nan, 1.7976931348623157e308, 5e-324]),
        "io.statefun.types/string": (StringWrapper, ["", "alice", "Zo\u00eb \U0001F680", "x" * 300, "\u2028"] * 6
                                     + ["a\x00b", "\x00", "c-1\x00other"]),
    }

    def value_of(rng, typename):
        cls, values = boundary[typename]
        return typed(typename, cls(value=rng.choice(values)))

    def seen(rng):
        roll = rng.random()
        if roll < 0.2:
            return TypedValue(typename="io.statefun.types/int", has_value=False)
        if roll < 0.9:
            if rng.random() < 0.05:
                return typed("io.statefun.types/int", IntWrapper(value=INT32_MAX))  # the counter at its maximum
            return typed("io.statefun.types/int", IntWrapper(value=rng.choice(
                [0, 1, 9, 19, INT32_MAX - 1, INT32_MIN, -1, -10])))
        return value_of(rng, rng.choice(list(boundary)))  # a state of another type

    def build(target, states, invocations):
        to_function = ToFunction()
        batch = to_function.invocation
        batch.target.namespace, batch.target.type, batch.target.id = target
        for name, value in states:
            state = batch.state.add()
            state.state_name = name
            state.state_value.CopyFrom(value)
        for who, argument in invocations:
            invocation = batch.invocations.add()
            if who:
                invocation.caller.namespace, invocation.caller.type, invocation.caller.id = who
            invocation.argument.CopyFrom(argument)
        return to_function.SerializeToString()

    ids = ["alice", "zo\u00eb", "id/x", "7"] * 8 + ["c-1\x00other", "\x00"]

    def seed(rng):
        roll = rng.random()
        if roll < 0.95:
            function, state = rng.choice([("greeter", "seen"), ("greeter", "seen"), ("audit", "audits")])
            target = ("example", function, rng.choice(ids))
            states = [(state, seen(rng))]
            if rng.random() < 0.08:
                states = []  # missing: an incomplete context
            if rng.random() < 0.15:
                states.insert(rng.randint(0, len(states)), ("other", value_of(rng, rng.choice(list(boundary)))))
            invocations = []
            for _ in range(rng.choice([1, 1, 1, 2, 3, 11])):
                if rng.random() < 0.85:
                    argument = value_of(rng, "io.statefun.types/string")
                elif rng.random() < 0.5:
                    argument = TypedValue(typename="io.statefun.types/string", has_value=False)
                else:
                    argument = value_of(rng, rng.choice(list(boundary)))
                who = rng.choice([None, None, ("example", "caller", "c1"), ("", "", "")] * 5
                                 + [("example", "caller", "c\x00d")])
                invocations.append((who, argument))
            return build(target, states, invocations)
        target = rng.choice([("example", "nobody", "x"), ("", "", ""), ("example", "greeter", "")])
        return build(target, [("seen", seen(rng))], [(None, value_of(rng, "io.statefun.types/string"))])
    p.seed = seed

    def describe_typed(value):
        cls = wrappers.get(value.typename)
        out = [("typename", value.typename), ("has_value", value.has_value)]
        if cls is None:
            return out + [("value", bytes(value.value))]
        message = cls()
        try:
            message.ParseFromString(value.value)
        except Exception:
            return out + [("undecodable value", bytes(value.value))]
        return out + [("value", canonical(message))]

    def canonical_reply(reply):
        # No response at all (the SDK leaves the oneof unset when a batch had no effect) is compared
        # as an empty invocation result: the runtime reads both as the default InvocationResponse.
        if reply.WhichOneof("response") in ("invocation_result", None):
            result = reply.invocation_result
            mutations = [(m.state_name, m.mutation_type,
                          describe_typed(m.state_value) if m.HasField("state_value") else None)
                         for m in result.state_mutations]
            return {"response": "invocation_result",
                    "other fields": [(n, v) for n, v in canonical(reply) if n != "invocation_result"],
                    "state_mutations": sorted(mutations, key=lambda m: m[0]),
                    "invocation_result": [(n, v) for n, v in canonical(result, None, describe_typed)
                                          if n != "state_mutations"]}
        return {"response": reply.WhichOneof("response"), "fields": canonical(reply)}
    p.canonical_reply = canonical_reply

    p.schema = {
        "ToFunction": {100: ("msg", "Batch", False)},
        "Batch": {1: ("msg", "Address", False), 2: ("msg", "State", True), 3: ("msg", "Invocation", True)},
        "Address": {1: ("str", None, False), 2: ("str", None, False), 3: ("str", None, False)},
        "State": {1: ("str", None, False), 2: ("msg", "TypedValue", False)},
        "Invocation": {1: ("msg", "Address", False), 2: ("msg", "TypedValue", False)},
        "TypedValue": {1: ("str", None, False), 2: ("int", None, False), 3: ("payload", None, False)},
    }
    p.payloads = {
        "io.statefun.types/string": {1: ("value-str", None, False)},
        "io.statefun.types/int": {1: ("counter32", None, False)},  # sfixed32
        "io.statefun.types/long": {1: ("fixed64", None, False)},  # sfixed64
        "io.statefun.types/bool": {1: ("int", None, False)},
        "io.statefun.types/float": {1: ("fixed32", None, False)},
        "io.statefun.types/double": {1: ("fixed64", None, False)},
    }
    p.payload_key = lambda typename: typename
    return p


def canonical(message, describe_any=None, describe_typed=None):
    """A protobuf message as nested lists of (field name, value), payloads decoded, floats as bits,
    unknown fields as their bytes."""
    out = []
    for field, value in message.ListFields():
        out.append((field.name, canonical_value(field, value, describe_any, describe_typed)))
    unknown = message.UnknownFields() if hasattr(message, "UnknownFields") else ()
    raw = [(u.field_number, u.wire_type, u.data if isinstance(u.data, (bytes, int)) else repr(u.data)) for u in unknown]
    if raw:
        out.append(("<unknown fields>", raw))
    return out


def canonical_value(field, value, describe_any, describe_typed):
    if field.label == field.LABEL_REPEATED:
        return [canonical_value_one(field, v, describe_any, describe_typed) for v in value]
    return canonical_value_one(field, value, describe_any, describe_typed)


def canonical_value_one(field, value, describe_any, describe_typed):
    if field.type == field.TYPE_MESSAGE:
        name = field.message_type.full_name
        if name == "google.protobuf.Any" and describe_any:
            return describe_any(value)
        if name.endswith("TypedValue") and describe_typed:
            return describe_typed(value)
        return canonical(value, describe_any, describe_typed)
    if field.type == field.TYPE_FLOAT:
        return ("float", struct.pack("<f", value).hex())
    if field.type == field.TYPE_DOUBLE:
        return ("double", struct.pack("<d", value).hex())
    if field.type == field.TYPE_BYTES:
        return bytes(value)
    return value


# --------------------------------------------------------------------------------------------------
# Input features, for the categories: what in the input is the likely cause of a disagreement.
# --------------------------------------------------------------------------------------------------

def valid_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def features(protocol, data):
    """What the input holds, walked along the protocol's schema (fields of the wrong wire type and
    unknown fields are noted and not followed)."""
    found = set()
    OVERFLOWS[0] = 0
    top = parse_fields(data)
    if top is None:
        found.add("not-a-message")
        return found
    if OVERFLOWS[0]:
        found.add("varint-over-64-bits")
    if data != serialize(top):
        found.add("non-minimal-varint")

    def visit(fields, schema_name, payload=False):
        schema = (protocol.payloads if payload else protocol.schema).get(schema_name, {})
        seen = {}
        type_key = None
        for f in fields:
            seen[f.number] = seen.get(f.number, 0) + 1
            spec = schema.get(f.number)
            if f.wire == SGROUP:
                found.add("group-field")
                continue
            if spec is None:
                found.add("unknown-field")
                continue
            kind, sub, repeated = spec
            expected = {"counter32": FIXED32, "fixed32": FIXED32, "fixed64": FIXED64}.get(
                kind, LEN if kind in ("msg", "str", "bytes", "payload", "value-str") else VARINT)
            if f.wire != expected:
                found.add("wrong-wire-type")
                continue
            if kind == "str":
                if b"\x00" in f.value:
                    found.add("nul-in-string")
                if not valid_utf8(f.value):
                    found.add("invalid-utf8-in-string")
                if f.number == 1 and schema_name in ("Any", "TypedValue"):
                    type_key = f.value
            elif kind == "value-str":
                if not valid_utf8(f.value):
                    found.add("invalid-utf8-in-value")
                if b"\x00" in f.value:
                    found.add("nul-in-value")
            elif kind == "counter":  # int64, a varint
                if to_signed(f.value, 64) == INT64_MAX:
                    found.add("counter-at-max")
            elif kind == "counter32":  # sfixed32
                if struct.unpack("<i", f.value)[0] == INT32_MAX:
                    found.add("counter-at-max")
            elif kind == "msg" or kind == "bytes":
                if not repeated and seen[f.number] == 2:
                    found.add("non-repeated-message-twice")
                children = parse_fields(f.value) if f.children is None else f.children
                if children is None:
                    if f.value:
                        found.add("malformed-nested")
                    continue
                visit(children, sub, payload)
        if schema_name in ("Any", "TypedValue"):
            for f in fields:
                spec = schema.get(f.number)
                if spec and spec[0] == "payload" and f.wire == LEN and type_key is not None:
                    try:
                        key = protocol.payload_key(type_key.decode("utf-8"))
                    except UnicodeDecodeError:
                        continue
                    if key in protocol.payloads:
                        children = parse_fields(f.value)
                        if children is None:
                            found.add("malformed-payload")
                        else:
                            visit(children, key, True)
        for number, count in seen.items():
            spec = schema.get(number)
            if spec and count > 1 and not spec[2] and spec[0] not in ("msg", "bytes"):
                found.add("non-repeated-scalar-twice")

    visit(top, "ToFunction")
    return found


def to_signed(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# In order: the first feature present names the category (the likeliest root cause).
FEATURE_PRIORITY = ["counter-at-max", "nul-in-string", "nul-in-value", "non-repeated-message-twice",
                    "invalid-utf8-in-value", "invalid-utf8-in-string", "wrong-wire-type", "group-field",
                    "varint-over-64-bits", "non-minimal-varint", "non-repeated-scalar-twice", "malformed-payload",
                    "malformed-nested", "unknown-field", "not-a-message"]


# --------------------------------------------------------------------------------------------------
# The Swift server: started, watched after every case, restarted after a death or a hang.
# --------------------------------------------------------------------------------------------------

class Server:
    def __init__(self, executable, log_dir):
        self.executable, self.log_dir = executable, log_dir
        self.starts = 0
        self.process = None
        self.connection = None
        self.start()

    def start(self):
        self.starts += 1
        self.log_path = os.path.join(self.log_dir, "server-%d.log" % self.starts)
        log = open(self.log_path, "wb")
        environment = dict(os.environ, STATEFUN_HOST="127.0.0.1", STATEFUN_PORT="0", STATEFUN_LOOPS="1",
                           LOG_LEVEL=os.environ.get("FUZZ_DIFF_LOG_LEVEL", "info"),
                           SWIFT_BACKTRACE="enable=no")  # a trap kills at once, with no symbolication pause
        self.process = subprocess.Popen([self.executable], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=environment)
        log.close()
        deadline = time.monotonic() + 120
        while True:
            match = re.search(r"addresses=127\.0\.0\.1:(\d+).*HTTP server listening", self.log_tail(4000))
            if match:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None:
                raise RuntimeError("the server exited at start: %s" % self.log_tail())
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start in 120 s: %s" % self.log_tail())
            time.sleep(0.02)
        self.connection = None

    def log_tail(self, size=1500):
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - size))
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def post(self, body, timeout):
        """('http', status, content type, body), ('died', how, log), ('hang', seconds) or ('dropped', error)."""
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            started = time.monotonic()
            try:
                self.connection.request("POST", "/statefun", body=body,
                                        headers={"Content-Type": "application/octet-stream"})
                response = self.connection.getresponse()
                content = response.read()
                if response.will_close:
                    self.connection.close()
                    self.connection = None
                return ("http", response.status, response.getheader("Content-Type"), content)
            except TimeoutError:
                self.connection.close()
                self.connection = None
                if self.process.poll() is None:
                    return ("hang", time.monotonic() - started)
                return self.died()
            except (OSError, http.client.HTTPException) as error:
                self.connection.close()
                self.connection = None
                if self.wait_exit(5.0):
                    return self.died()
                # A keep-alive connection the server had closed: once more on a fresh one.
                if attempt == 1:
                    return ("dropped", repr(error))
        raise AssertionError("unreachable")

    def wait_exit(self, seconds):
        try:
            self.process.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def died(self):
        code = self.process.returncode
        how = ("killed by signal %d (%s)" % (-code, signal.Signals(-code).name)) if code < 0 else "exited %d" % code
        return ("died", how, self.log_tail())

    def check_alive(self):
        """None, or the death: after every case, the process must still run."""
        if self.process.poll() is None:
            return None
        return self.died()

    def restart(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.start()

    def stop(self):
        if self.connection:
            self.connection.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --------------------------------------------------------------------------------------------------
# One case: the oracle, Swift, the verdict.
# --------------------------------------------------------------------------------------------------

def run_oracle(protocol, body):
    """('ok', FromFunction bytes) or (stage, exception text), stage being 'reject' (before any function
    ran), 'input' (the request's data did not decode in the batch) or 'function' (raised in the batch)."""
    try:
        return ("ok", protocol.oracle(body))
    except Exception as error:  # noqa: BLE001 - any exception of the SDK is its answer
        frames = traceback.extract_tb(error.__traceback__)
        in_batch = any(os.path.abspath(f.filename) in protocol.user_files or f.name in protocol.function_frames
                       for f in frames)
        text = "%s: %s" % (type(error).__name__, str(error)[:300])
        if not in_batch:
            return ("reject", text)
        if isinstance(error, (DecodeError, UnicodeDecodeError)) or (
                isinstance(error, TypeError) and "Type mismatch" in str(error)):
            return ("input", text)
        return ("function", text)


def verdict(protocol, expected, actual):
    """None when Swift's answer agrees with the SDK's, else (swift outcome, detail)."""
    kind = actual[0]
    if kind == "died":
        return ("died", "the server died: %s" % actual[1])
    if kind == "hang":
        return ("hang", "no answer in %.1f s" % actual[1])
    if kind == "dropped":
        return ("dropped", "the connection dropped with no answer: %s" % actual[1])
    _, status, content_type, body = actual
    stage = expected[0]
    if stage == "ok":
        if status != 200:
            return ("%d" % status, None)
        if content_type != "application/octet-stream":
            return ("200 wrong content type", None)
        reply = protocol.FromFunction()
        try:
            reply.ParseFromString(body)
        except Exception as error:  # noqa: BLE001
            return ("200 undecodable", repr(error))
        want = protocol.FromFunction()
        want.ParseFromString(expected[1])
        for message in (want, reply):
            # The Python SDKs turn a delay into milliseconds through a double
            # (timedelta.total_seconds() * 1000): past 2^53 ms it is rounded, so
            # delays are compared as the doubles they pass through.
            for delayed in message.invocation_result.delayed_invocations:
                delayed.delay_in_ms = min(int(float(delayed.delay_in_ms)), 2**63 - 1)
        if protocol.canonical_reply(want) != protocol.canonical_reply(reply):
            return ("200 different", None)
        return None
    if stage == "reject":
        return None if 400 <= status < 500 else ("%d" % status, None)
    # Raised in the batch ('input' or 'function'): a 4xx, or the 500 of a failed function.
    return None if (400 <= status < 500 or status == 500) else ("%d" % status, None)


def show_expected(protocol, expected):
    if expected[0] != "ok":
        return "SDK raised (%s): %s" % (expected[0], expected[1])
    reply = protocol.FromFunction()
    reply.ParseFromString(expected[1])
    return "SDK FromFunction:\n" + pretty(protocol.canonical_reply(reply))


def show_actual(protocol, actual):
    if actual[0] == "died":
        return "Swift: the server died (%s); its last log lines:\n%s" % (actual[1], indent(actual[2][-1200:]))
    if actual[0] == "hang":
        return "Swift: no answer in %.1f s (the server was killed and restarted)" % actual[1]
    if actual[0] == "dropped":
        return "Swift: the connection dropped with no answer: %s" % actual[1]
    _, status, content_type, body = actual
    if status == 200 and content_type == "application/octet-stream":
        reply = protocol.FromFunction()
        try:
            reply.ParseFromString(body)
        except Exception:  # noqa: BLE001
            return "Swift 200, undecodable body: %s" % body.hex()
        return "Swift 200 FromFunction:\n" + pretty(protocol.canonical_reply(reply))
    return "Swift %d %s: %s" % (status, content_type, body[:400].decode("utf-8", "replace"))


def pretty(value, depth=1):
    pad = "  " * depth
    if isinstance(value, dict):
        return "\n".join("%s%s: %s" % (pad, k, pretty(v, depth + 1).lstrip()) for k, v in value.items())
    if isinstance(value, list) and value and all(isinstance(x, (list, tuple, dict)) for x in value):
        return "\n".join(pad + pretty(x, depth + 1).lstrip() for x in value)
    return pad + repr(value)


def indent(text):
    return "\n".join("    " + line for line in text.splitlines())


# The input features that can make a parser reject what another accepts, in order.
PARSER_FEATURES = ["wrong-wire-type", "group-field", "varint-over-64-bits", "non-minimal-varint",
                   "non-repeated-message-twice", "nul-in-string", "invalid-utf8-in-string", "malformed-nested",
                   "malformed-payload", "unknown-field", "non-repeated-scalar-twice", "not-a-message"]


def category_of(protocol, body, expected, actual, outcome):
    """The disagreement's likeliest root cause, then the SDK's and Swift's outcomes.

    The cause: for a crash or a hang, that and what the SDK said; for a Swift error status, Swift's
    error message with its particulars taken out (which names the check that fired), and for a
    parse error the input's protobuf feature that the parser likely refused; for a 200, the first
    telling feature of the input (FEATURE_PRIORITY) - a heuristic: an input may hold several."""
    swift = outcome[0]
    sdk = {"ok": "SDK answers", "reject": "SDK rejects", "input": "SDK fails decoding",
           "function": "SDK's function raises"}[expected[0]]
    found = features(protocol, body)
    if swift == "died":
        cause = "crash (%s)" % actual[1]
        swift_text = "Swift dies"
    elif swift == "hang":
        cause, swift_text = "hang", "Swift hangs"
    elif swift == "dropped":
        cause, swift_text = "connection dropped", "Swift drops the connection"
    elif actual[0] == "http" and actual[1] != 200:
        message = normalised(actual[3][:300].decode("utf-8", "replace"))
        cause = "Swift: %s" % message
        if "not a serialized" in message or "not valid UTF" in message:
            cause += " [%s]" % next((f for f in PARSER_FEATURES if f in found), "no-telling-feature")
        swift_text = "Swift %s" % swift
    else:
        cause = next((f for f in FEATURE_PRIORITY if f in found), None)
        if cause is None:
            cause = ("SDK: %s" % normalised(expected[1])) if expected[0] != "ok" else "no-telling-feature"
        swift_text = "Swift 200 (different)" if swift == "200 different" else "Swift %s" % swift
    return "%s | %s | %s" % (cause, sdk, swift_text)


def normalised(message):
    """An error message with its particulars (quoted names, numbers, addresses) taken out, so that
    the errors of one cause fall in one category."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    message = re.sub(r"address \S+", "address …", message)
    message = re.sub(r" for \S+ has", " for … has", message)
    message = re.sub(r"(bound to|type) [\w./\-]+/[\w./\-]*", r"\1 …", message)
    message = re.sub(r"-?\d+", "N", message)
    message = re.sub(r"Unknown message type .*", "Unknown message type …", message)
    return message[:160]


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=["v2", "v3"], required=True)
    parser.add_argument("--server", required=True, help="the Swift example executable (greeter or greeter-v3)")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regressions", help="a directory of .bin inputs, replayed first")
    parser.add_argument("--out", help="a directory to write each disagreement to (<category>-<sha>.bin and .txt)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take before it is a hang")
    parser.add_argument("--details", type=int, default=2, help="disagreements shown in full per category")
    options = parser.parse_args()

    protocol = make_v2() if options.protocol == "v2" else make_v3()
    log_dir = tempfile.mkdtemp(prefix="fuzz-diff-%s-" % protocol.name)
    if options.out:
        os.makedirs(options.out, exist_ok=True)

    cases = []
    if options.regressions and os.path.isdir(options.regressions):
        for name in sorted(os.listdir(options.regressions)):
            if name.endswith(".bin"):
                with open(os.path.join(options.regressions, name), "rb") as f:
                    cases.append(("regression " + name, f.read(), []))
    regressions = len(cases)
    rng = random.Random(options.seed)

    def generated():
        for number in range(options.cases):
            body = protocol.seed(rng)
            names = []
            if rng.random() < 0.85:
                body, names = mutate(body, rng)
            yield ("case %d (seed %d)" % (number, options.seed), body, names)

    server = Server(options.server, log_dir)
    started = time.monotonic()
    total = 0
    agreed = {"ok": 0, "reject": 0, "input": 0, "function": 0}
    disagreements = {}
    deaths = hangs = 0
    seen_inputs = set()
    try:
        for label, body, names in list(cases) + list(generated()):
            total += 1
            expected = run_oracle(protocol, body)
            actual = server.post(body, options.timeout)
            if actual[0] == "http":
                death = server.check_alive()
                if death:
                    actual = death
            outcome = verdict(protocol, expected, actual)
            if actual[0] == "died":
                deaths += 1
            if actual[0] == "hang":
                hangs += 1
            if actual[0] in ("died", "hang"):
                server.restart()
            if outcome is None:
                agreed[expected[0]] += 1
                continue
            category = category_of(protocol, body, expected, actual, outcome)
            digest = hashlib.sha1(body).hexdigest()[:12]
            entry = (label, names, body, expected, actual, outcome)
            disagreements.setdefault(category, []).append(entry)
            if options.out and digest not in seen_inputs:
                seen_inputs.add(digest)
                path = os.path.join(options.out, "%s-%s" % (slug(category.split(" | ")[0])[:48], digest))
                with open(path + ".bin", "wb") as f:
                    f.write(body)
                with open(path + ".txt", "w") as f:
                    f.write(report_entry(protocol, category, entry))
    finally:
        server.stop()

    elapsed = time.monotonic() - started
    count = sum(len(v) for v in disagreements.values())
    for category in sorted(disagreements, key=lambda c: -len(disagreements[c])):
        entries = disagreements[category]
        print("=== %d x %s" % (len(entries), category))
        for n, entry in enumerate(entries):
            if n < options.details:
                print(report_entry(protocol, category, entry))
            else:
                print("  %s: input %s%s" % (entry[0], entry[2][:96].hex(), "..." if len(entry[2]) > 96 else ""))
    print("fuzz-diff %s: %d cases (%d regressions, %d generated, seed %d) in %.0f s; agreed: %d answered, "
          "%d rejected, %d failed decoding, %d failed in the function; server deaths: %d, hangs: %d; "
          "%d disagreements in %d categories" % (
              protocol.name, total, regressions, total - regressions, options.seed, elapsed, agreed["ok"],
              agreed["reject"], agreed["input"], agreed["function"], deaths, hangs, count, len(disagreements)))
    for category in sorted(disagreements, key=lambda c: -len(disagreements[c])):
        print("  %5d  %s" % (len(disagreements[category]), category))
    sys.exit(1 if count else 0)


def report_entry(protocol, category, entry):
    label, names, body, expected, actual, outcome = entry
    lines = ["--- %s [%s]%s" % (label, category, (" mutations: " + ", ".join(names)) if names else ""),
             "input (%d bytes): %s" % (len(body), body.hex()),
             show_expected(protocol, expected),
             show_actual(protocol, actual)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
