import Foundation
package import StatefulFunctions

/// Ingress lines and egress records as JSON.
///
/// An ingress line names a target address and a typed value:
/// ```json
/// {"target": "example/greeter/ann", "type": "io.statefun.types/string", "value": "ann"}
/// {"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "fields": {"1": "ann"}}
/// {"target": "example/raw/1", "type": "com.example/Blob", "base64": "AAEC"}
/// {"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "ann"}}
/// ```
/// Built-in types take their JSON value; protobuf messages take their fields
/// by number (strings, integers, booleans, nested objects) or their bytes in
/// base64, or, with a descriptor set, their proto3 JSON form; a `"json"` value
/// of a type that is not a protobuf message (`JSONMessage` types) is sent as
/// that JSON's bytes; any other type takes base64 bytes.
package enum JSONValues {
    /// Parses one ingress line; `schema` encodes `"json"` values.
    package static func ingress(_ line: String, schema: ProtobufSchema? = nil) throws -> (Address, AnyMessage) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw LocalRuntimeError.input("not a JSON object: \(line)")
        }
        guard let target = object["target"] as? String else { throw LocalRuntimeError.input("no \"target\": \(line)") }
        let parts = target.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[2].isEmpty else {
            throw LocalRuntimeError.input("target must be namespace/type/id: \(target)")
        }
        let address = try Address("\(parts[0])/\(parts[1])", id: String(parts[2]))
        guard let type = object["type"] as? String else { throw LocalRuntimeError.input("no \"type\": \(line)") }
        if let json = object["json"] {
            // A JSONMessage type (no protobuf type URL, no descriptor set): its JSON as bytes.
            if schema == nil && !type.hasPrefix("type.googleapis.com/") {
                let bytes = try JSONSerialization.data(
                    withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
                return (address, AnyMessage(typeURL: type, value: [UInt8](bytes)))
            }
            guard let schema else {
                throw LocalRuntimeError.input("a \"json\" value needs the message's schema: give --descriptor-set")
            }
            guard let name = schema.messageName(forType: type) else {
                throw LocalRuntimeError.input("type \(type) names no message of the descriptor set")
            }
            guard case let .object(fields) = try JSONValue.parse(line), let json = fields["json"] else {
                throw LocalRuntimeError.input("not a JSON object: \(line)")
            }
            return (address, AnyMessage(typeURL: type, value: try schema.encode(json, as: name)))
        }
        return (address, try value(type: type, object))
    }

    private static func value(type: String, _ object: [String: Any]) throws -> AnyMessage {
        if let base64 = object["base64"] as? String {
            guard let bytes = Data(base64Encoded: base64) else { throw LocalRuntimeError.input("invalid base64") }
            return AnyMessage(typeURL: type, value: [UInt8](bytes))
        }
        if let fields = object["fields"] as? [String: Any] {
            return AnyMessage(typeURL: type, value: try ProtobufFields.encode(fields))
        }
        guard let value = object["value"] else { throw LocalRuntimeError.input("no \"value\", \"fields\" or \"base64\"") }
        func number() throws -> NSNumber {
            guard let number = value as? NSNumber else { throw LocalRuntimeError.input("\(type) needs a number") }
            return number
        }
        switch type {
        case Bool.typeName:
            guard let flag = value as? Bool else { throw LocalRuntimeError.input("\(type) needs true or false") }
            return try AnyMessage(packing: flag)
        case Int32.typeName: return try AnyMessage(packing: try number().int32Value)
        case Int64.typeName: return try AnyMessage(packing: try number().int64Value)
        case Float.typeName: return try AnyMessage(packing: try number().floatValue)
        case Double.typeName: return try AnyMessage(packing: try number().doubleValue)
        case String.typeName:
            guard let text = value as? String else { throw LocalRuntimeError.input("\(type) needs a string") }
            return try AnyMessage(packing: text)
        default:
            throw LocalRuntimeError.input("type \(type) is not built in: give \"fields\" or \"base64\"")
        }
    }

    /// One egress record as a JSON line, decoded where the type is known.
    package static func egressLine(_ message: EgressMessage, schema: ProtobufSchema? = nil) -> String {
        var object: [String: Any] = ["egress": message.egress.description, "type": message.message.typeURL]
        describe(message.message, into: &object, schema: schema)
        return jsonLine(object)
    }

    /// The decoded value of a message, as JSON fields of `object`: `"json"` for
    /// a protobuf message `schema` knows.
    package static func describe(_ message: AnyMessage, into object: inout [String: Any], schema: ProtobufSchema? = nil) {
        if let value = builtIn(message) {
            object["value"] = value
        } else if let schema, let name = schema.messageName(forType: message.typeURL),
                  let json = schema.decode(message.value, as: name) {
            object["json"] = json
        } else if let record = record(message) {
            for (key, value) in record { object[key] = value }
        } else if let json = json(message.value) {
            object["json"] = json
        } else if let fields = ProtobufFields.decode(message.value), !message.value.isEmpty {
            object["fields"] = fields
        } else {
            object["base64"] = Data(message.value).base64EncodedString()
        }
    }

    private static func builtIn(_ message: AnyMessage) -> Any? {
        switch message.typeURL {
        case Bool.typeName: return try? Bool(packedBytes: message.value)
        case Int32.typeName: return try? Int32(packedBytes: message.value)
        case Int64.typeName: return try? Int64(packedBytes: message.value)
        case Float.typeName: return try? Float(packedBytes: message.value)
        case Double.typeName: return try? Double(packedBytes: message.value)
        case String.typeName: return try? String(packedBytes: message.value)
        default: return nil
        }
    }

    /// Kafka and Kinesis egress records (2.x and 3.x), with their value decoded if possible.
    private static func record(_ message: AnyMessage) -> [String: Any]? {
        func value(_ bytes: [UInt8]) -> Any {
            if let json = json(bytes) { return ["json": json] }
            // Text (as 3.x SDKs write a string), unless it has control characters, as protobuf messages do.
            if let text = String(validating: bytes, as: UTF8.self), !text.isEmpty,
               !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                return ["text": text]
            }
            if let fields = ProtobufFields.decode(bytes), !bytes.isEmpty { return ["fields": fields] }
            return ["base64": Data(bytes).base64EncodedString()]
        }
        if message.messageName.hasSuffix("KafkaProducerRecord"), let record = try? KafkaProducerRecord(packedBytes: message.value) {
            return ["topic": record.topic, "key": record.key, "record_value": value(record.valueBytes)]
        }
        if message.messageName.hasSuffix("KinesisEgressRecord"), let record = try? KinesisEgressRecord(packedBytes: message.value) {
            return ["stream": record.stream, "partition_key": record.partitionKey,
                    "explicit_hash_key": record.explicitHashKey, "record_value": value(record.valueBytes)]
        }
        return nil
    }

    /// The bytes as a JSON object or array (a `JSONMessage`'s encoding), if they are one.
    private static func json(_ bytes: [UInt8]) -> Any? {
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }),
              first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(bytes))
    }

    package static func jsonLine(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
