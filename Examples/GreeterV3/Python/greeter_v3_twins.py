"""Python twins of the Swift 3.x greeter functions, written with the official
StateFun Python SDK 3.3.0, for the conformance test and the differential fuzzer.

The Swift functions are bound to `String.self`: a message of another type fails
the invocation there. Python's `as_string()` does not look at the type name,
so each twin checks it as the Swift binding does; and a Swift `String` without
a value (`has_value` false) is the empty string, where `as_string()` is None."""
from statefun import StatefulFunctions, ValueSpec, IntType, StringType, message_builder, egress_message_builder

functions = StatefulFunctions()


def expect_string(message):
    if not message.is_string():
        raise TypeError("expected a message of type %s, got %s" % (StringType.typename, message.value_typename()))
    message.as_string()  # the Swift binding decodes the message before the function runs


@functions.bind(typename="example/greeter", specs=[ValueSpec(name="seen", type=IntType)])
def greeter(context, message):
    expect_string(message)
    name = message.as_string() or ""
    seen = (context.storage.seen or 0) + 1
    context.storage.seen = seen
    context.send_egress(egress_message_builder(target_typename="example/out", value="%s:%d" % (name, seen),
                                               value_type=StringType))
    if seen % 10 == 0:
        context.send(message_builder(target_typename="example/audit", target_id=name,
                                     str_value="%s reached %d" % (name, seen)))


@functions.bind(typename="example/audit", specs=[ValueSpec(name="audits", type=IntType)])
def audit(context, message):
    expect_string(message)
    audits = (context.storage.audits or 0) + 1
    context.storage.audits = audits
    context.send_egress(egress_message_builder(target_typename="example/audit-out",
                                               value="%s:%d" % (context.address.id, audits), value_type=StringType))
