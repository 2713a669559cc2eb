"""Python twins of the Swift greeter and showcase functions, written with the
official StateFun Python SDK 2.2.2. The conformance test and the differential
fuzzer run both on the same requests and compare what they answer.

The Swift functions read their states typed (`context.state(_:as:)`), which
throws when the stored Any holds another message type; `Any.Unpack` returns
False instead, so the twins check what it returns, as the Swift functions do."""
import typing
from datetime import timedelta

from google.protobuf.any_pb2 import Any
from statefun import StatefulFunctions, RequestReplyHandler, kafka_egress_record, kinesis_egress_record

from greeter_pb2 import GreetRequest, GreetResponse, SeenCount
from showcase_pb2 import Action, Script, Ping

functions = StatefulFunctions()


def has_caller(context):
    # 2.2.2 never sets context.caller to None: an ingress message gets an empty address.
    caller = context.caller
    return caller is not None and bool(caller.namespace or caller.type or caller.identity)


def unpack_state(state, into):
    """The stored Any unpacked into `into`, or a TypeError when it holds another type (as Swift)."""
    if state is not None and not state.Unpack(into):
        raise TypeError("the state holds %s, not %s" % (state.type_url, into.DESCRIPTOR.full_name))


def generate_message(count, name):
    if count == 1:
        return "Hello " + name
    elif count == 2:
        return "Hello again!"
    elif count == 3:
        return "Third time's the charm"
    else:
        return "Hello for the " + str(count) + "th time"


@functions.bind("example/greeter")
def greeter(context, request: GreetRequest):
    state = context["seen_count"]
    seen = SeenCount()
    unpack_state(state, seen)
    seen.seen += 1
    stored = Any()
    stored.Pack(seen)
    context["seen_count"] = stored

    response = GreetResponse(name=request.name, greeting=generate_message(seen.seen, request.name))
    context.pack_and_send_egress("example/greets", kafka_egress_record(topic="greetings", key=request.name, value=response))
    if has_caller(context):
        context.pack_and_reply(response)


@functions.bind("example/showcase")
def showcase(context, message: typing.Union[Script, Ping]):
    if isinstance(message, Ping):
        state = context["pings"]
        pings = SeenCount()
        unpack_state(state, pings)
        pings.seen += 1
        stored = Any()
        stored.Pack(pings)
        context["pings"] = stored
        answer = Ping(text="%s #%d" % (message.text, pings.seen))
        if has_caller(context):
            context.pack_and_reply(answer)
        else:
            context.pack_and_send_egress("example/pings", answer)
        return
    for action in message.actions:
        run(action, context)


def run(action, context):
    ping = Ping(text=action.text)
    kind = action.kind
    if kind == Action.SEND:
        context.pack_and_send(action.target_type, action.target_id, ping)
    elif kind == Action.REPLY:
        context.pack_and_reply(ping)
    elif kind == Action.SEND_AFTER:
        if action.delay_ms <= 0:  # as the Swift SDK's sendAfter refuses it (Python's would send it as it is)
            raise ValueError("delay must be positive")
        context.pack_and_send_after(timedelta(milliseconds=action.delay_ms), action.target_type, action.target_id, ping)
    elif kind == Action.KAFKA_EGRESS:
        record = kafka_egress_record(topic=action.text, key=action.target_id, value=ping)
        context.pack_and_send_egress(action.target_type, record)
    elif kind == Action.KINESIS_EGRESS:
        record = kinesis_egress_record(stream=action.text, partition_key=action.target_id,
                                       explicit_hash_key=action.state, value=ping)
        context.pack_and_send_egress(action.target_type, record)
    elif kind == Action.SET_STATE:
        stored = Any()
        stored.Pack(ping)
        context[action.state] = stored
    elif kind == Action.DELETE_STATE:
        del context[action.state]
    elif kind == Action.EGRESS:
        envelope = Any()
        envelope.Pack(ping)
        context.send_egress(action.target_type, envelope)
    elif kind == Action.FAIL:
        raise RuntimeError("the script asked to fail: " + action.text)
    else:
        raise ValueError("unknown action %d" % kind)


handler = RequestReplyHandler(functions)
