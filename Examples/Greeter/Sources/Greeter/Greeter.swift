public import StatefulFunctions
import StatefulFunctionsProtobuf

extension Example_GreetRequest: PackableMessage {}
extension Example_GreetResponse: PackableMessage {}
extension Example_SeenCount: PackableMessage {}

/// The greeter example, as the reference page's count greeter: it counts how
/// often it has seen each name, greets accordingly, sends the greeting to a
/// Kafka egress and, when a function asked, replies to it.
public enum Greeter {
    /// The function type the greeter is bound under.
    public static let typename = "example/greeter"
    /// The egress the greetings go to.
    public static let egress = "example/greets"
    /// The state that counts the times a name was seen.
    public static let seenCountState = "seen_count"

    /// Binds the greeter in `functions`.
    public static func register(in functions: StatefulFunctions) throws {
        try functions.bind(typename, Example_GreetRequest.self) { context, request in
            // Update the stored message rather than build a new one: fields a newer
            // version of the schema added survive (as in the reference twin).
            var count = try context.state(seenCountState, as: Example_SeenCount.self) ?? Example_SeenCount()
            count.seen = try count.seen.incremented(counting: seenCountState)
            try context.setState(seenCountState, to: count)
            let seen = count.seen

            let response = Example_GreetResponse.with {
                $0.name = request.name
                $0.greeting = greeting(count: seen, name: request.name)
            }
            let record = try kafkaEgressRecord(topic: "greetings", key: request.name, value: response)
            try context.packAndSendEgress(egress, message: record)
            if context.caller != nil {
                try context.packAndReply(response)
            }
        }
    }

    /// The reference page's `generate_message`.
    public static func greeting(count: Int64, name: String) -> String {
        switch count {
        case 1: return "Hello \(name)"
        case 2: return "Hello again!"
        case 3: return "Third time's the charm"
        default: return "Hello for the \(count)th time"
        }
    }
}
