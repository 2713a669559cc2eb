public import StatefulFunctions
import StatefulFunctionsProtobuf

extension Org_Apache_Flink_Statefun_Sdk_Verifier_Invoke: PackableMessage {
    /// The verifier's own type name for `Invoke`.
    public static var typeName: String { "sdk.verification.types/org.apache.flink.statefun.sdk.verifier.Invoke" }
}

/// The StateFun SDK verification module: the functions a third-party verifier
/// calls to check an SDK.
public enum Verification {
    /// Binds `sdk.verification.functions/types-validation` and
    /// `sdk.verification.functions/command-interpreter` in `functions`.
    public static func register(in functions: StatefulFunctions) throws {
        try functions.bind("sdk.verification.functions/types-validation") { context, message in
            try context.reply(try typesValidationAnswer(to: message))
        }

        try functions.bind(
            "sdk.verification.functions/command-interpreter",
            states: [
                ValueSpec("state-a", Int32.self),
                ValueSpec("state-b", Bool.self, expiration: .afterWrite(.seconds(24 * 60 * 60))),
                ValueSpec("state-c", String.self, expiration: .afterInvoke(.seconds(5 * 60))),
            ]
        ) { context, message in
            // The interpreter also gets the strings it sends itself: only commands act.
            guard let invoke = message.as(Org_Apache_Flink_Statefun_Sdk_Verifier_Invoke.self) else { return }
            try interpret(invoke.command, context)
        }
    }

    /// The same built-in type, changed: bool negated, int + 1, float × 3,
    /// long × 9, double × 7, string lower-cased.
    static func typesValidationAnswer(to message: AnyMessage) throws -> AnyMessage {
        if let value = message.as(Bool.self) { return try AnyMessage(packing: !value) }
        if let value = message.as(Int32.self) { return try AnyMessage(packing: value &+ 1) }
        if let value = message.as(Float.self) { return try AnyMessage(packing: value * 3) }
        if let value = message.as(Int64.self) { return try AnyMessage(packing: value &* 9) }
        if let value = message.as(Double.self) { return try AnyMessage(packing: value * 7) }
        if let value = message.as(String.self) { return try AnyMessage(packing: value.lowercased()) }
        throw StatefulFunctionsError.unexpectedMessageType(
            typeURL: message.typeURL,
            accepted: [Bool.typeName, Int32.typeName, Float.typeName, Int64.typeName, Double.typeName, String.typeName])
    }

    static func interpret(_ command: Org_Apache_Flink_Statefun_Sdk_Verifier_Invoke.Command, _ context: Context) throws {
        let hello = "hello world!"
        let target = Address(namespace: "target.namespace", type: "target.function", id: "target.id")
        switch command {
        case .sendToSelf:
            context.send(try OutgoingMessage(to: context.address, value: hello))
        case .sendToTarget:
            context.send(try OutgoingMessage(to: target, value: hello))
        case .delayedSendToTarget:
            try context.sendAfter(.seconds(100), OutgoingMessage(to: target, value: hello))
        case .sendToKafkaEgress:
            context.sendEgress(try kafkaEgressMessage(
                typename: "target.namespace/target.kafka", topic: "target.topic", key: "my-key", value: Int32(1108),
                valueType: Int32.self))
        case .sendToKinesisEgress:
            context.sendEgress(try kinesisEgressMessage(
                typename: "target.namespace/target.kinesis", stream: "target.stream", partitionKey: "my-key",
                explicitHashKey: "my-explicit-hash-key", value: hello, valueType: String.self))
        case .incrementIntStateA:
            try context.setState("state-a", to: (try context.state("state-a", as: Int32.self) ?? 0) &+ 1)
        case .toggleBoolStateB:
            try context.setState("state-b", to: !(try context.state("state-b", as: Bool.self) ?? false))
        case .clearStringStateC:
            try context.deleteState("state-c")
        case .UNRECOGNIZED(let value):
            throw StatefulFunctionsError.invalidArgument("unknown verification command \(value)")
        }
    }
}
