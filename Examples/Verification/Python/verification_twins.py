"""Python twins of the Swift SDK verification functions, written with the
official StateFun Python SDK 3.3.0, for the conformance test."""
from datetime import timedelta

from statefun import (StatefulFunctions, ValueSpec, IntType, BoolType, StringType, FloatType, LongType, DoubleType,
                      message_builder, kafka_egress_message, kinesis_egress_message, make_protobuf_type)

from verification_pb2 import Invoke

functions = StatefulFunctions()

InvokeType = make_protobuf_type(Invoke, namespace="sdk.verification.types")


@functions.bind(typename="sdk.verification.functions/types-validation")
def types_validation(context, message):
    caller = context.caller
    reply = lambda **value: context.send(message_builder(target_typename=caller.typename, target_id=caller.id, **value))
    if message.is_bool():
        reply(bool_value=not message.as_bool())
    elif message.is_int():
        reply(int_value=message.as_int() + 1)
    elif message.is_float():
        reply(float_value=message.as_float() * 3)
    elif message.is_long():
        reply(long_value=message.as_long() * 9)
    elif message.is_double():
        reply(double_value=message.as_double() * 7)
    elif message.is_string():
        reply(str_value=message.as_string().lower())
    else:
        raise TypeError("unexpected type " + message.value_typename())


def spec(name, type, **expiration):
    # The Python SDK only accepts identifiers as names; the runtime (and the
    # verifier) use "state-a", so the name is set after the check.
    value_spec = ValueSpec(name=name.replace("-", "_"), type=type, **expiration)
    value_spec.name = name
    return value_spec


@functions.bind(typename="sdk.verification.functions/command-interpreter",
                specs=[spec("state-a", IntType),
                       spec("state-b", BoolType, expire_after_write=timedelta(days=1)),
                       spec("state-c", StringType, expire_after_call=timedelta(minutes=5))])
def command_interpreter(context, message):
    if not message.is_type(InvokeType):
        return
    command = message.as_type(InvokeType).command
    storage = context.storage
    if command == Invoke.SEND_TO_SELF:
        context.send(message_builder(target_typename=context.address.typename, target_id=context.address.id,
                                     str_value="hello world!"))
    elif command == Invoke.SEND_TO_TARGET:
        context.send(message_builder(target_typename="target.namespace/target.function", target_id="target.id",
                                     str_value="hello world!"))
    elif command == Invoke.DELAYED_SEND_TO_TARGET:
        context.send_after(timedelta(seconds=100),
                           message_builder(target_typename="target.namespace/target.function", target_id="target.id",
                                           str_value="hello world!"))
    elif command == Invoke.SEND_TO_KAFKA_EGRESS:
        context.send_egress(kafka_egress_message(typename="target.namespace/target.kafka", topic="target.topic",
                                                 key="my-key", value=1108, value_type=IntType))
    elif command == Invoke.SEND_TO_KINESIS_EGRESS:
        context.send_egress(kinesis_egress_message(typename="target.namespace/target.kinesis", stream="target.stream",
                                                   partition_key="my-key", explicit_hash_key="my-explicit-hash-key",
                                                   value="hello world!", value_type=StringType))
    elif command == Invoke.INCREMENT_INT_STATE_A:
        setattr(storage, "state-a", (getattr(storage, "state-a") or 0) + 1)
    elif command == Invoke.TOGGLE_BOOL_STATE_B:
        setattr(storage, "state-b", not (getattr(storage, "state-b") or False))
    elif command == Invoke.CLEAR_STRING_STATE_C:
        delattr(storage, "state-c")
