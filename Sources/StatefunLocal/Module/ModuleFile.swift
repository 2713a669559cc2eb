package import StatefulFunctions
import Yams

/// The endpoints a module.yaml declares, in the 2.x format (`version: "1.0"`
/// or `"2.0"`, one entry per function type, states declared) or the 3.x format
/// (`kind: io.statefun.endpoints.v2/http` documents, function type patterns),
/// and its ingresses and egresses. A Kubernetes ConfigMap whose `data` holds a
/// `module.yaml` (as the StateFun runtime's manifests mount it) is read as
/// that module.yaml; other documents (Deployments, Services, …) are skipped.
package struct ModuleFile: Sendable {
    /// One endpoint declaration.
    package struct Endpoint: Sendable {
        /// The namespace the endpoint serves.
        package let namespace: String
        /// The function name, or `nil` for every function of the namespace (`ns/*`).
        package let name: String?
        /// The URL, possibly with `{function.name}` in it (3.x).
        package let urlTemplate: String
        /// 2.x files speak 2.x, 3.x files 3.x.
        package let protocolVersion: ProtocolVersion
        /// The most messages one batch carries.
        package let maxBatchSize: Int
        /// The declared states (2.x only; 3.x functions declare their own).
        package let states: [ValueSpec]
    }

    /// An ingress or egress declaration: its id and its kind (3.x `kind`, 2.x `meta.type`).
    package struct IO: Sendable, Equatable {
        package let id: String
        package let kind: String

        package init(id: String, kind: String) {
            self.id = id
            self.kind = kind
        }

        /// The message types the runtime's egress of this kind takes, or `nil`
        /// when any (or the kind is not one of StateFun's generic egresses).
        /// StateFun's Kafka and Kinesis egresses take only their records: the
        /// runtime fails the job on anything else.
        package var acceptedTypeNames: [String]? {
            switch kind {
            case "io.statefun.kafka.v1/egress", "io.statefun.kafka/egress": [kafkaProducerRecordTypeName]
            case "io.statefun.kinesis.v1/egress", "io.statefun.kinesis/egress": [kinesisEgressRecordTypeName]
            case "statefun.kafka.io/generic-egress": [KafkaProducerRecord.typeName]
            case "statefun.kinesis.io/generic-egress": [KinesisEgressRecord.typeName]
            default: nil
            }
        }
    }

    package let endpoints: [Endpoint]
    package let ingresses: [IO]
    package let egresses: [IO]

    /// Parses a module.yaml text.
    package init(yaml: String) throws {
        var endpoints: [Endpoint] = [], ingresses: [IO] = [], egresses: [IO] = []
        try Self.read(yaml, &endpoints, &ingresses, &egresses)
        guard !endpoints.isEmpty else {
            throw LocalRuntimeError.configuration("module.yaml declares no remote function endpoint")
        }
        self.endpoints = endpoints
        self.ingresses = ingresses
        self.egresses = egresses
    }

    /// Whether the egress `id` is declared and takes messages of `typeName`;
    /// `nil` when it does, else why not.
    package func egressProblem(_ id: String, typeName: String) -> String? {
        guard let egress = egresses.first(where: { $0.id == id }) else {
            return "Unknown egress \(id): module.yaml does not declare it"
        }
        guard let accepted = egress.acceptedTypeNames, !accepted.contains(typeName) else { return nil }
        return "egress \(id) (\(egress.kind)) takes only \(accepted.joined(separator: ", ")), not \(typeName)"
    }

    private static func read(_ yaml: String, _ endpoints: inout [Endpoint], _ ingresses: inout [IO], _ egresses: inout [IO]) throws {
        for document in try Yams.load_all(yaml: yaml).compactMap({ $0 as? [String: Any] }) {
            let kind = document["kind"] as? String ?? ""
            let spec = document["spec"] as? [String: Any] ?? [:]
            if let module = document["module"] as? [String: Any] {
                endpoints += try Self.v2Endpoints(module)
                let moduleSpec = module["spec"] as? [String: Any] ?? [:]
                ingresses += try v2IO(moduleSpec["ingresses"], "ingress")
                egresses += try v2IO(moduleSpec["egresses"], "egress")
            } else if kind.hasPrefix("io.statefun.endpoints.") {
                endpoints.append(try Self.v3Endpoint(spec))
            } else if kind.hasPrefix("io.statefun.") && (kind.hasSuffix("/ingress") || kind.hasSuffix("/egress")) {
                guard let id = spec["id"] as? String else {
                    throw LocalRuntimeError.configuration("a \(kind) in module.yaml has no spec.id")
                }
                _ = try FunctionType(id)
                if kind.hasSuffix("/ingress") { ingresses.append(IO(id: id, kind: kind)) } else { egresses.append(IO(id: id, kind: kind)) }
            } else if kind == "ConfigMap", let data = document["data"] as? [String: Any] {
                for (key, text) in data where key.hasSuffix("module.yaml") {
                    guard let text = text as? String else { continue }
                    try read(text, &endpoints, &ingresses, &egresses)
                }
            }
        }
    }

    private static func v2IO(_ list: Any?, _ key: String) throws -> [IO] {
        try (list as? [[String: Any]] ?? []).map { entry in
            let meta = (entry[key] as? [String: Any])?["meta"] as? [String: Any] ?? [:]
            guard let id = meta["id"] as? String, let type = meta["type"] as? String else {
                throw LocalRuntimeError.configuration("an \(key) in module.yaml needs meta.id and meta.type")
            }
            _ = try FunctionType(id)
            return IO(id: id, kind: type)
        }
    }

    /// The endpoint serving `type` and its URL, exact declarations before patterns.
    package func endpoint(for type: FunctionType) -> (Endpoint, EndpointURL)? {
        let match = endpoints.first { $0.namespace == type.namespace && $0.name == type.name }
            ?? endpoints.first { $0.namespace == type.namespace && $0.name == nil }
        guard let match,
              let url = try? EndpointURL(match.urlTemplate.replacingOccurrences(of: "{function.name}", with: type.name))
        else { return nil }
        return (match, url)
    }

    private static func v2Endpoints(_ module: [String: Any]) throws -> [Endpoint] {
        let spec = module["spec"] as? [String: Any] ?? [:]
        let functions = spec["functions"] as? [[String: Any]] ?? []
        return try functions.map { entry in
            let function = entry["function"] as? [String: Any] ?? [:]
            let meta = function["meta"] as? [String: Any] ?? [:]
            let body = function["spec"] as? [String: Any] ?? [:]
            guard let typename = meta["type"] as? String else {
                throw LocalRuntimeError.configuration("a function in module.yaml has no meta.type")
            }
            let type = try FunctionType(typename)
            guard let url = body["endpoint"] as? String else {
                throw LocalRuntimeError.configuration("function \(typename) has no spec.endpoint")
            }
            let states = try (body["states"] as? [Any] ?? []).map { state -> ValueSpec in
                if let name = state as? String { return ValueSpec(name: name, typeName: "") }
                guard let object = state as? [String: Any], let name = object["name"] as? String else {
                    throw LocalRuntimeError.configuration("function \(typename) declares a state without a name")
                }
                guard let after = object["expireAfter"].map({ "\($0)" }) else { return ValueSpec(name: name, typeName: "") }
                let ttl = try parseDuration(after)
                let mode = (object["expireMode"] as? String ?? "after-invoke").lowercased()
                return ValueSpec(
                    name: name, typeName: "",
                    expiration: mode.contains("write") ? .afterWrite(ttl) : .afterInvoke(ttl))
            }
            return Endpoint(
                namespace: type.namespace, name: type.name, urlTemplate: url, protocolVersion: .v2,
                maxBatchSize: intValue(body["maxNumBatchRequests"]) ?? 1000, states: states)
        }
    }

    private static func v3Endpoint(_ spec: [String: Any]) throws -> Endpoint {
        guard let pattern = spec["functions"] as? String, let url = spec["urlPathTemplate"] as? String else {
            throw LocalRuntimeError.configuration("an endpoint in module.yaml needs spec.functions and spec.urlPathTemplate")
        }
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw LocalRuntimeError.configuration("invalid function pattern '\(pattern)': namespace/name or namespace/*")
        }
        return Endpoint(
            namespace: String(parts[0]), name: parts[1] == "*" ? nil : String(parts[1]), urlTemplate: url,
            protocolVersion: .v3, maxBatchSize: intValue(spec["maxNumBatchRequests"]) ?? 1000, states: [])
    }

    private static func intValue(_ value: Any?) -> Int? {
        (value as? Int) ?? (value as? String).flatMap(Int.init)
    }
}
