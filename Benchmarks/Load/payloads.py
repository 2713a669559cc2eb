"""Writes the load benchmark's request bodies, built with the official
StateFun Python SDKs' own protocol classes.

2.x (run with the 2.2.2 venv):  payloads.py v2 OUTDIR
3.x (run with the 3.3.0 venv):  payloads.py v3 OUTDIR

Each payload is one POST body for the greeter of its protocol, and a file
`<name>.check` beside it says what a correct answer holds (checked once per
endpoint before it is measured):
  one       one invocation, no caller, the state as the runtime sends it
  batch100  100 invocations for one address
  batch1000 1000 invocations (for the per-invocation cost at large batches)
  state64k  (2.x) one invocation whose `seen_count` state carries 64 KiB: the
            greeter reads it, counts, and writes all of it back. The padding is
            an unknown field of SeenCount, which every protobuf runtime keeps.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def v2(out):
    sys.path.insert(0, os.path.join(ROOT, "Examples/Greeter/Python"))
    from google.protobuf.any_pb2 import Any
    from statefun.request_reply_pb2 import Address, ToFunction
    from greeter_pb2 import GreetRequest, SeenCount

    def body(invocations, seen=3, padding=0):
        request = ToFunction()
        batch = request.invocation
        batch.target.CopyFrom(Address(namespace="example", type="greeter", id="bench"))
        count = SeenCount(seen=seen)
        value = count.SerializeToString()
        if padding:
            # field 15, wire type 2 (bytes): tag 0x7a, a varint length, the bytes
            n, varint = padding, bytearray()
            while True:
                b = n & 0x7F
                n >>= 7
                varint.append(b | (0x80 if n else 0))
                if not n:
                    break
            value += b"\x7a" + bytes(varint) + bytes(i % 251 for i in range(padding))
        state_any = Any(type_url="type.googleapis.com/example.SeenCount", value=value)
        state = batch.state.add()
        state.state_name = "seen_count"
        state.state_value = state_any.SerializeToString()
        for i in range(invocations):
            invocation = batch.invocations.add()
            invocation.argument.Pack(GreetRequest(name="bench"))
        return request.SerializeToString()

    write(out, "v2-one", body(1), {"invocations": 1, "egress": 1, "seen": 4})
    write(out, "v2-batch100", body(100), {"invocations": 100, "egress": 100, "seen": 103})
    write(out, "v2-batch1000", body(1000), {"invocations": 1000, "egress": 1000, "seen": 1003})
    write(out, "v2-state64k", body(1, padding=64 * 1024), {"invocations": 1, "egress": 1, "seen": 4,
                                                          "state_bytes_at_least": 64 * 1024})


def v3(out):
    from statefun.request_reply_pb2 import Address, ToFunction, TypedValue
    from statefun.types_pb2 import IntWrapper, StringWrapper

    def body(invocations, seen=3):
        request = ToFunction()
        batch = request.invocation
        batch.target.CopyFrom(Address(namespace="example", type="greeter", id="bench"))
        state = batch.state.add()
        state.state_name = "seen"
        state.state_value.CopyFrom(TypedValue(typename="io.statefun.types/int", has_value=True,
                                              value=IntWrapper(value=seen).SerializeToString()))
        for i in range(invocations):
            invocation = batch.invocations.add()
            invocation.argument.CopyFrom(TypedValue(typename="io.statefun.types/string", has_value=True,
                                                    value=StringWrapper(value="bench").SerializeToString()))
        return request.SerializeToString()

    # For the micro-benchmarks: `bench/state` (Benchmarks/Sources/BenchmarkSupport)
    # reads its 64 KiB string state and writes it back one character longer.
    blob = ToFunction()
    blob.invocation.target.CopyFrom(Address(namespace="bench", type="state", id="blob"))
    state = blob.invocation.state.add()
    state.state_name = "blob"
    state.state_value.CopyFrom(TypedValue(typename="io.statefun.types/string", has_value=True,
                                          value=StringWrapper(value="b" * (64 * 1024)).SerializeToString()))
    invocation = blob.invocation.invocations.add()
    invocation.argument.CopyFrom(TypedValue(typename="io.statefun.types/string", has_value=True,
                                            value=StringWrapper(value="go").SerializeToString()))
    with open(os.path.join(out, "v3-state64k.bin"), "wb") as f:
        f.write(blob.SerializeToString())

    write(out, "v3-one", body(1), {"invocations": 1, "egress": 1, "seen": 4})
    write(out, "v3-batch100", body(100), {"invocations": 100, "egress": 100, "seen": 103})
    write(out, "v3-batch1000", body(1000), {"invocations": 1000, "egress": 1000, "seen": 1003})


def write(out, name, body, check):
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(body)
    with open(os.path.join(out, name + ".check"), "w") as f:
        json.dump(check, f)


if __name__ == "__main__":
    version, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    {"v2": v2, "v3": v3}[version](out)
