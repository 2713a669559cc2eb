public import StatefulFunctions
import StatefulFunctionsProtobuf

extension Example_Script: PackableMessage {}
extension Example_Ping: PackableMessage {}

/// A thrown ``Example_Action/Kind/fail`` action.
public struct ShowcaseFailure: Error, CustomStringConvertible {
    public let description: String
}

/// The showcase example: a function that accepts two message types and runs
/// every context operation on command, so that tests and the reference twin can
/// drive each one.
///
/// - A `Ping` increments the `pings` state (a `SeenCount`) and is answered with
///   a `Ping` to the caller, or to the egress `example/pings` without a caller.
/// - A `Script` runs its actions in order (see `showcase.proto`).
public enum Showcase {
    /// The function type the showcase is bound under.
    public static let typename = "example/showcase"

    /// Binds the showcase in `functions`.
    public static func register(in functions: StatefulFunctions) throws {
        try functions.bind(typename, accepting: [Example_Script.self, Example_Ping.self]) { context, message in
            switch message {
            case let ping as Example_Ping:
                try onPing(context, ping)
            case let script as Example_Script:
                for action in script.actions { try run(action, context) }
            default:
                break
            }
        }
    }

    static func onPing(_ context: Context, _ ping: Example_Ping) throws {
        // The stored message is updated, not rebuilt: fields a newer schema added survive.
        var count = try context.state("pings", as: Example_SeenCount.self) ?? Example_SeenCount()
        count.seen = try count.seen.incremented(counting: "pings")
        try context.setState("pings", to: count)
        let pings = count.seen
        let answer = Example_Ping.with { $0.text = "\(ping.text) #\(pings)" }
        if context.caller != nil {
            try context.packAndReply(answer)
        } else {
            try context.packAndSendEgress("example/pings", message: answer)
        }
    }

    static func run(_ action: Example_Action, _ context: Context) throws {
        let ping = Example_Ping.with { $0.text = action.text }
        switch action.kind {
        case .send:
            try context.packAndSend(action.targetType, id: action.targetID, message: ping)
        case .reply:
            try context.packAndReply(ping)
        case .sendAfter:
            try context.packAndSendAfter(
                .milliseconds(action.delayMs), action.targetType, id: action.targetID, message: ping)
        case .kafkaEgress:
            let record = try kafkaEgressRecord(topic: action.text, key: action.targetID, value: ping)
            try context.packAndSendEgress(action.targetType, message: record)
        case .kinesisEgress:
            let record = try kinesisEgressRecord(
                stream: action.text, partitionKey: action.targetID, explicitHashKey: action.state, value: ping)
            try context.packAndSendEgress(action.targetType, message: record)
        case .setState:
            context[action.state] = try AnyMessage(packing: ping)
        case .deleteState:
            context[action.state] = nil
        case .egress:
            try context.sendEgress(action.targetType, message: AnyMessage(packing: ping))
        case .fail:
            throw ShowcaseFailure(description: "the script asked to fail: \(action.text)")
        case .UNRECOGNIZED(let value):
            throw ShowcaseFailure(description: "unknown action \(value)")
        }
    }
}
