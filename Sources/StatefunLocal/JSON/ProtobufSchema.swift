// Protobuf messages as JSON, by their schema: a FileDescriptorSet (from
// `protoc --include_imports --descriptor_set_out=FILE`) walked at run time to
// encode the proto3 JSON mapping to the binary format, and the binary format
// back to JSON. swift-protobuf only parses the descriptor set.
import Foundation
import StatefulFunctions
import SwiftProtobuf

/// The messages and enums of a FileDescriptorSet, for encoding and decoding by name.
package struct ProtobufSchema: Sendable {
    enum Kind: Sendable {
        case double, float, int64, uint64, int32, fixed64, fixed32, bool, string, group, message, bytes, uint32
        case `enum`, sfixed32, sfixed64, sint32, sint64
    }

    struct Field: Sendable {
        let name: String
        let jsonName: String
        let number: Int
        let kind: Kind
        let repeated: Bool
        /// The message or enum type, fully qualified without the leading dot.
        let typeName: String
        let packed: Bool
        let oneof: Int?
        /// Written even when it holds its default (proto2 `optional`, proto3 `optional`, oneof members).
        let explicitPresence: Bool
    }

    struct Message: Sendable {
        let fullName: String
        /// In field number order.
        let fields: [Field]
        let isMapEntry: Bool
        let oneofNames: [String]
    }

    struct Enum: Sendable {
        let fullName: String
        let values: [(name: String, number: Int32)]
    }

    private(set) var messages: [String: Message] = [:]
    private(set) var enums: [String: Enum] = [:]

    /// Reads a serialized `google.protobuf.FileDescriptorSet`.
    package init(descriptorSet bytes: [UInt8]) throws {
        let set: Google_Protobuf_FileDescriptorSet
        do {
            set = try Google_Protobuf_FileDescriptorSet(serializedBytes: bytes)
        } catch {
            throw LocalRuntimeError.configuration("not a FileDescriptorSet (protoc --include_imports --descriptor_set_out): \(error)")
        }
        for file in set.file {
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for message in file.messageType { add(message, prefix: prefix, syntax: file.syntax) }
            for value in file.enumType { add(value, prefix: prefix) }
        }
        guard !messages.isEmpty || !enums.isEmpty else {
            throw LocalRuntimeError.configuration("the descriptor set declares no message")
        }
    }

    /// Reads a descriptor set file.
    package init(contentsOfFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LocalRuntimeError.configuration("cannot read the descriptor set \(path)")
        }
        try self.init(descriptorSet: [UInt8](data))
    }

    private mutating func add(_ descriptor: Google_Protobuf_DescriptorProto, prefix: String, syntax: String) {
        let fullName = prefix + descriptor.name
        let proto3 = syntax == "proto3"
        let fields = descriptor.field.map { field -> Field in
            let kind = Self.kind(field.type)
            let scalar = ![.string, .bytes, .message, .group].contains(kind)
            let repeated = field.label == .repeated
            return Field(
                name: field.name, jsonName: field.hasJsonName ? field.jsonName : Self.lowerCamelCase(field.name),
                number: Int(field.number), kind: kind, repeated: repeated,
                typeName: field.typeName.hasPrefix(".") ? String(field.typeName.dropFirst()) : field.typeName,
                packed: repeated && scalar && (field.options.hasPacked ? field.options.packed : syntax != "proto2" && syntax != ""),
                oneof: field.hasOneofIndex && !field.proto3Optional ? Int(field.oneofIndex) : nil,
                explicitPresence: !proto3 || descriptor.options.mapEntry || field.proto3Optional || field.hasOneofIndex || kind == .message || kind == .group)
        }.sorted { $0.number < $1.number }
        messages[fullName] = Message(
            fullName: fullName, fields: fields, isMapEntry: descriptor.options.mapEntry,
            oneofNames: descriptor.oneofDecl.map(\.name))
        for nested in descriptor.nestedType { add(nested, prefix: fullName + ".", syntax: syntax) }
        for value in descriptor.enumType { add(value, prefix: fullName + ".") }
    }

    private mutating func add(_ descriptor: Google_Protobuf_EnumDescriptorProto, prefix: String) {
        enums[prefix + descriptor.name] = Enum(
            fullName: prefix + descriptor.name, values: descriptor.value.map { ($0.name, $0.number) })
    }

    private static func kind(_ type: Google_Protobuf_FieldDescriptorProto.TypeEnum) -> Kind {
        switch type {
        case .double: return .double
        case .float: return .float
        case .int64: return .int64
        case .uint64: return .uint64
        case .int32: return .int32
        case .fixed64: return .fixed64
        case .fixed32: return .fixed32
        case .bool: return .bool
        case .string: return .string
        case .group: return .group
        case .message: return .message
        case .bytes: return .bytes
        case .uint32: return .uint32
        case .enum: return .enum
        case .sfixed32: return .sfixed32
        case .sfixed64: return .sfixed64
        case .sint32: return .sint32
        case .sint64: return .sint64
        }
    }

    /// protoc's json_name: underscores dropped, the letter after each upper-cased.
    static func lowerCamelCase(_ name: String) -> String {
        var result = ""
        var upper = false
        for character in name {
            if character == "_" {
                upper = true
            } else {
                result += upper ? character.uppercased() : String(character)
                upper = false
            }
        }
        return result
    }

    /// The message a StateFun type names: `type.googleapis.com/pkg.Message`, `pkg/Message` or `pkg.Message`.
    package func messageName(forType type: String) -> String? {
        let last = type.split(separator: "/").last.map(String.init) ?? type
        for candidate in [last, type.replacingOccurrences(of: "/", with: ".")] where messages[candidate] != nil {
            return candidate
        }
        return nil
    }
}
