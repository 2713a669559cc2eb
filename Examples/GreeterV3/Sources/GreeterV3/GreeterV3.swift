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
public enum GreeterV3 {
    /// Binds both functions in `functions`.
    public static func register(in functions: StatefulFunctions) throws {
        try functions.bind("example/greeter", String.self, states: [ValueSpec("seen", Int32.self)]) { context, name in
            let seen = try (context.state("seen", as: Int32.self) ?? 0).incremented(counting: "seen")
            try context.setState("seen", to: seen)
            context.sendEgress(try EgressMessage("example/out", value: "\(name):\(seen)"))
            if seen % 10 == 0 {
                context.send(try OutgoingMessage("example/audit", id: name, value: "\(name) reached \(seen)"))
            }
        }

        try functions.bind("example/audit", String.self, states: [ValueSpec("audits", Int32.self)]) { context, _ in
            let audits = try (context.state("audits", as: Int32.self) ?? 0).incremented(counting: "audits")
            try context.setState("audits", to: audits)
            context.sendEgress(try EgressMessage("example/audit-out", value: "\(context.address.id):\(audits)"))
        }
    }
}
