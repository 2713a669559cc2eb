// What a user hears when the protocol a handler speaks is not the one the
// runtime or the functions expect: a request of the other protocol, value specs
// bound for a 2.x handler.

extension ProtocolVersion {
    /// `2.x` or `3.x`.
    var release: String {
        switch self {
        case .v2: "2.x"
        case .v3: "3.x"
        }
    }

    var other: ProtocolVersion {
        switch self {
        case .v2: .v3
        case .v3: .v2
        }
    }
}

/// For a request that did not decode under `version` on the fast path: if it is exactly
/// a request of the other protocol, with invocations, a sentence saying which protocol
/// the endpoint speaks and how to switch; otherwise `nil`. A request of the runtime's
/// own protocol takes the fast path and never pays for this.
func otherProtocolHint(_ body: [UInt8], speaking version: ProtocolVersion, functions: FunctionTable) -> String? {
    let other = version.other
    let decode: ([UInt8], FunctionTable, Int?) throws -> InvocationBatch = switch other {
    case .v2: { try RequestDecoder<SchemaV2>.decode($0, functions: $1, expectedFrees: $2) }
    case .v3: { try RequestDecoder<SchemaV3>.decode($0, functions: $1, expectedFrees: $2) }
    }
    // Exactly (as protobuf-c reads it on the fast path) a request with invocations whose every
    // message has bytes: what a runtime sends, and what a request of the other protocol, whose
    // value fields have other wire types, is not.
    guard let frees = WireNormalizer.survey(body),
          let batch = try? decode(body, functions, frees),
          withExtendedLifetime(batch, { !batch.invocations.isEmpty && batch.invocations.allSatisfy(\.hasBytes) })
    else { return nil }
    return "the request is a StateFun \(other.release) ToFunction, but this endpoint speaks the StateFun"
        + " \(version.release) protocol: serve the functions with `protocol: .\(other.rawValue)`"
        + (other == .v3 ? " (the default)" : "") + " to answer a StateFun \(other.release) runtime"
}

extension StatefulFunctions {
    /// A warning when functions declare value specs that a handler of `version`
    /// will not use: 2.x states come from module.yaml, and a 2.x runtime never
    /// asks for the specs. `nil` when there is nothing to say.
    package func unusedValueSpecsWarning(protocol version: ProtocolVersion) -> String? {
        guard version == .v2 else { return nil }
        let declaring = functionTypes.filter { !(function(for: $0)?.valueSpecs.isEmpty ?? true) }
        guard !declaring.isEmpty else { return nil }
        return "value specs are bound for \(declaring.map(\.description).joined(separator: ", ")) but the handler"
            + " speaks the StateFun 2.x protocol, which does not use them (module.yaml declares 2.x states):"
            + " serve them with `protocol: .v3` (the default) for a 3.x runtime"
    }
}
