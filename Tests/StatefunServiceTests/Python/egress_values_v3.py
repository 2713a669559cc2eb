"""3.x Kafka and Kinesis egress messages of the Swift SDK, byte for byte against the official Python SDK 3.3.0.

Sends one ToFunction to the Swift endpoint's `test/egress-values` function, whose
invocations are case names; for each case the Swift function sends one egress
message, built with the Swift SDK's kafkaEgressMessage / kinesisEgressMessage.
The same case is built here with the official SDK's kafka_egress_message /
kinesis_egress_message (Int64 and Float values, which the Python SDK takes only
as bytes, as Kafka's LongSerializer / FloatSerializer write them: struct.pack).
Each pair is compared exactly: egress namespace and type, the TypedValue's type
name and has_value, and the record's bytes. Prints `N passed, M failed` last.

usage: egress_values_v3.py URL
"""
import struct
import sys

import requests

from statefun import kafka_egress_message, kinesis_egress_message, IntType, StringType, DoubleType
from statefun.request_reply_pb2 import ToFunction, FromFunction, TypedValue
from statefun.types_pb2 import StringWrapper

# The cases, by name, as the official SDK builds them (the Swift twin of each is in EgressValueTests.swift).
CASES = {
    "kafka-string": lambda: kafka_egress_message("e/kafka", "greetings", "hello", key="ann"),
    "kafka-unicode-no-key": lambda: kafka_egress_message("e/kafka", "greetings", "Zoë 🚀"),
    "kafka-empty-string": lambda: kafka_egress_message("e/kafka", "t", "", key="k"),
    "kafka-bytes": lambda: kafka_egress_message("e/kafka", "t", bytes([0, 1, 0xFF, 0x80]), key="k"),
    "kafka-int32-7": lambda: kafka_egress_message("e/kafka", "t", 7, key="k"),
    "kafka-int32-minus-1": lambda: kafka_egress_message("e/kafka", "t", -1),
    "kafka-int32-min": lambda: kafka_egress_message("e/kafka", "t", -2147483648),
    "kafka-double": lambda: kafka_egress_message("e/kafka", "t", 1.5),
    "kafka-double-negative": lambda: kafka_egress_message("e/kafka", "t", -0.1),
    "kafka-int64": lambda: kafka_egress_message("e/kafka", "t", struct.pack(">q", -12345678901)),
    "kafka-float": lambda: kafka_egress_message("e/kafka", "t", struct.pack(">f", 1.5)),
    "kafka-value-type-int": lambda: kafka_egress_message("e/kafka", "t", 1108, value_type=IntType, key="my-key"),
    "kafka-value-type-string": lambda: kafka_egress_message("e/kafka", "t", "hi", value_type=StringType),
    "kafka-value-type-double": lambda: kafka_egress_message("e/kafka", "t", 2.5, value_type=DoubleType),
    "kafka-bytes-key": lambda: kafka_egress_message("e/kafka", "t", "v", key="bytes-key"),
    "kafka-value-bytes": lambda: kafka_egress_message("e/kafka", "t", bytes([9, 8, 7]), key="k"),
    "kinesis-string": lambda: kinesis_egress_message("e/kinesis", "stream", "hello", "pk"),
    "kinesis-bytes-hash-key": lambda: kinesis_egress_message(
        "e/kinesis", "stream", bytes([0, 0xFE]), "pk", explicit_hash_key="hash"),
    "kinesis-value-type-string": lambda: kinesis_egress_message(
        "e/kinesis", "stream", "hello world!", "my-key", value_type=StringType, explicit_hash_key="my-explicit-hash-key"),
    "kinesis-bytes-partition-key": lambda: kinesis_egress_message("e/kinesis", "stream", "v", "bytes-pk"),
}


def request(names):
    to_function = ToFunction()
    batch = to_function.invocation
    batch.target.namespace, batch.target.type, batch.target.id = "test", "egress-values", "x"
    for name in names:
        argument = batch.invocations.add().argument
        argument.typename = "io.statefun.types/string"
        argument.has_value = True
        argument.value = StringWrapper(value=name).SerializeToString()
    return to_function.SerializeToString()


def main():
    names = list(CASES)
    response = requests.post(sys.argv[1], data=request(names), headers={"Content-Type": "application/octet-stream"})
    if response.status_code != 200:
        print("swift answered %d: %s" % (response.status_code, response.text[:300]))
        sys.exit(1)
    reply = FromFunction()
    reply.ParseFromString(response.content)
    egresses = list(reply.invocation_result.outgoing_egresses)
    passed = failed = 0
    if len(egresses) != len(names):
        print("FAIL swift sent %d egress messages for %d cases" % (len(egresses), len(names)))
        failed += 1
    for name, actual in zip(names, egresses):
        reference = CASES[name]()
        namespace, _, kind = reference.typename.partition("/")
        expected = (namespace, kind, reference.typed_value.typename, reference.typed_value.has_value,
                    bytes(reference.typed_value.value))
        swift = (actual.egress_namespace, actual.egress_type, actual.argument.typename, actual.argument.has_value,
                 bytes(actual.argument.value))
        if expected == swift:
            passed += 1
            print("ok   %s" % name)
        else:
            failed += 1
            print("FAIL %s:\n  reference: %r\n  swift:     %r" % (name, expected, swift))
    print("egress values v3: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
