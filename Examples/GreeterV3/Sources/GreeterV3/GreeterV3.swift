public import StatefulFunctions

/// The StateFun 3.x greeter: counts each name, reports every greeting to an
/// egress, and tells the auditor about every tenth.
///
/// - `example/greeter` (state `seen`, an int): per message (a string name),
///   `seen` += 1; sends `<name>:<seen>` to the egress `example/out`; when
///   `seen` is a multiple of 10, sends `<name> reached <seen>` to
///   `example/audit` with id `<name>`.
/// - `example/audit` (state `audits`, an int): per message, `audits` += 1;
///   sends `<its id>:<audits>` to the egress `example/audit-out`.
///
/// ``Mode/strings`` (``register(in:)``) sends the egress texts as built-in
/// strings, for tests and statefun-local. ``Mode/kafka`` is for a real
/// runtime whose egresses are Kafka egresses (`io.statefun.kafka.v1/egress`
/// accepts only Kafka producer records): the same texts go out as Kafka
/// records, and the greeter also takes names as raw UTF-8 (``PlainText``),
/// as a Kafka ingress delivers what a console producer writes.
public enum GreeterV3 {
    /// What the functions send to their egresses and take as names.
    public enum Mode: Sendable {
        /// Built-in strings in and out.
        case strings
        /// Kafka records out (topic ``greetingsTopic`` or ``auditsTopic``, key the
        /// name, value the text's UTF-8); built-in strings or ``PlainText`` in.
        case kafka
    }

    /// The topic of the greetings (egress `example/out`) in ``Mode/kafka``.
    public static let greetingsTopic = "greetings"
    /// The topic of the audit counts (egress `example/audit-out`) in ``Mode/kafka``.
    public static let auditsTopic = "audits"

    /// Binds both functions in `functions`, sending built-in strings.
    public static func register(in functions: StatefulFunctions) throws {
        try register(in: functions, mode: .strings)
    }

    /// Binds both functions in `functions` in `mode`.
    public static func register(in functions: StatefulFunctions, mode: Mode) throws {
        let greet: SynchronousFunctionBody<String> = { context, name in
            let seen = try (context.state("seen", as: Int32.self) ?? 0).incremented(counting: "seen")
            try context.setState("seen", to: seen)
            context.sendEgress(try egress("example/out", topic: greetingsTopic, key: name, text: "\(name):\(seen)", mode))
            if seen % 10 == 0 {
                context.send(try OutgoingMessage("example/audit", id: name, value: "\(name) reached \(seen)"))
            }
        }
        switch mode {
        case .strings:
            try functions.bind("example/greeter", String.self, states: [ValueSpec("seen", Int32.self)], greet)
        case .kafka:
            try functions.bind(
                "example/greeter", accepting: [String.self, PlainText.self], states: [ValueSpec("seen", Int32.self)]
            ) { context, message in
                guard let name = (message as? PlainText)?.text ?? (message as? String) else {
                    throw StatefulFunctionsError.malformedMessage("example/greeter takes a string or an example/plain-text")
                }
                try greet(context, name)
            }
        }

        try functions.bind("example/audit", String.self, states: [ValueSpec("audits", Int32.self)]) { context, _ in
            let audits = try (context.state("audits", as: Int32.self) ?? 0).incremented(counting: "audits")
            try context.setState("audits", to: audits)
            let id = context.address.id
            context.sendEgress(try egress("example/audit-out", topic: auditsTopic, key: id, text: "\(id):\(audits)", mode))
        }
    }

    private static func egress(_ typename: String, topic: String, key: String, text: String, _ mode: Mode) throws
        -> EgressMessage
    {
        switch mode {
        case .strings: try EgressMessage(typename, value: text)
        case .kafka: try kafkaEgressMessage(typename: typename, topic: topic, key: key, value: text)
        }
    }
}

/// Text as its bare UTF-8 bytes, typename `example/plain-text`: what a Kafka
/// ingress declared with `valueType: example/plain-text` delivers for a record
/// written by a console producer (a built-in string is a protobuf wrapper).
public struct PlainText: PackableMessage, Hashable {
    public static var typeName: String { "example/plain-text" }

    /// The text.
    public var text: String

    public init(_ text: String) { self.text = text }

    /// - Throws: ``StatefulFunctionsError/malformedMessage(_:)`` for bytes that are not UTF-8.
    public init(packedBytes: [UInt8]) throws {
        guard let text = String(validating: packedBytes, as: UTF8.self) else {
            throw StatefulFunctionsError.malformedMessage("an example/plain-text that is not valid UTF-8")
        }
        self.text = text
    }

    public func packedBytes() throws -> [UInt8] { Array(text.utf8) }
}
