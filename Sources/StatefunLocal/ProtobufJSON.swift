// Protobuf messages as JSON, by their schema: a FileDescriptorSet (from
// `protoc --include_imports --descriptor_set_out=FILE`) walked at run time to
// encode the proto3 JSON mapping to the binary format, and the binary format
// back to JSON. swift-protobuf only parses the descriptor set.
import Foundation
import StatefulFunctions
import SwiftProtobuf

/// A JSON value as parsed, numbers kept exact (64-bit integers do not go through `Double`).
package indirect enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// An integer above `Int64.max`.
    case unsigned(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Swift.Decoder) throws {
        if let container = try? decoder.singleValueContainer() {
            if container.decodeNil() { self = .null; return }
            if let value = try? container.decode(Bool.self) { self = .bool(value); return }
            if let value = try? container.decode(Int64.self) {
                // -0 and -0.0 keep their sign (a double field holds it).
                if value == 0, let double = try? container.decode(Double.self), double.sign == .minus {
                    self = .double(double)
                } else {
                    self = .integer(value)
                }
                return
            }
            if let value = try? container.decode(UInt64.self) { self = .unsigned(value); return }
            if let value = try? container.decode(Double.self) { self = .double(value); return }
            if let value = try? container.decode(String.self) { self = .string(value); return }
            if let value = try? container.decode([JSONValue].self) { self = .array(value); return }
        }
        self = .object(try [String: JSONValue](from: decoder))
    }

    /// Parses JSON text.
    package static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .unsigned, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

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

    // MARK: JSON to binary

    /// Encodes `json` (the proto3 JSON mapping) as message `name` in the binary format.
    package func encode(_ json: JSONValue, as name: String) throws -> [UInt8] {
        guard let message = messages[name] else { throw LocalRuntimeError.input("message \(name) is not in the descriptor set") }
        guard case let .object(object) = json else {
            throw LocalRuntimeError.input("\(name) needs a JSON object, not \(json.kind)")
        }
        var out: [UInt8] = []
        try encode(object, message, path: name, into: &out)
        return out
    }

    private func encode(_ object: [String: JSONValue], _ message: Message, path: String, into out: inout [UInt8]) throws {
        var given: [Int: (Field, JSONValue)] = [:]
        var oneofs: [Int: String] = [:]
        for (key, value) in object {
            guard let field = message.fields.first(where: { $0.jsonName == key || $0.name == key }) else {
                throw LocalRuntimeError.input(
                    "unknown field \"\(key)\" in \(message.fullName) (at \(path)); its fields: "
                        + message.fields.map(\.jsonName).joined(separator: ", "))
            }
            guard given[field.number] == nil else {
                throw LocalRuntimeError.input("field \(field.name) given twice at \(path)")
            }
            if value == .null { continue }
            if let oneof = field.oneof {
                if let other = oneofs[oneof] {
                    throw LocalRuntimeError.input(
                        "\(other) and \(field.name) are both set at \(path), but are of one oneof \(message.oneofNames[oneof])")
                }
                oneofs[oneof] = field.name
            }
            given[field.number] = (field, value)
        }
        for number in given.keys.sorted() {
            let (field, value) = given[number]!
            try encodeField(field, value, path: "\(path).\(field.jsonName)", into: &out)
        }
    }

    private func encodeField(_ field: Field, _ value: JSONValue, path: String, into out: inout [UInt8]) throws {
        if field.repeated, field.kind == .message, let entry = messages[field.typeName], entry.isMapEntry {
            guard case let .object(map) = value else { throw LocalRuntimeError.input("\(path) needs an object (a map), not \(value.kind)") }
            guard entry.fields.count == 2 else { throw LocalRuntimeError.input("malformed map entry \(entry.fullName)") }
            let (keyField, valueField) = (entry.fields[0], entry.fields[1])
            // Keys in order (swift-protobuf's deterministic order), numbers by value.
            let keys = map.keys.sorted { a, b in
                if let x = Self.integer(.string(a)), let y = Self.integer(.string(b)), keyField.kind != .string { return x < y }
                return a < b
            }
            for key in keys {
                let keyValue: JSONValue
                switch keyField.kind {
                case .string: keyValue = .string(key)
                case .bool:
                    guard key == "true" || key == "false" else { throw LocalRuntimeError.input("\(path): map key \"\(key)\" is not a boolean") }
                    keyValue = .bool(key == "true")
                default: keyValue = .string(key)
                }
                guard map[key]! != .null else { throw LocalRuntimeError.input("\(path)[\(key)] is null") }
                var bytes: [UInt8] = []
                try encodeValue(keyField, keyValue, path: "\(path)[\(key)]", into: &bytes)
                try encodeValue(valueField, map[key]!, path: "\(path)[\(key)]", into: &bytes)
                appendVarint(UInt64(field.number) << 3 | 2, &out)
                appendVarint(UInt64(bytes.count), &out)
                out += bytes
            }
            return
        }
        if field.repeated {
            guard case let .array(elements) = value else { throw LocalRuntimeError.input("\(path) needs an array, not \(value.kind)") }
            if field.packed {
                guard !elements.isEmpty else { return }
                var bytes: [UInt8] = []
                for (index, element) in elements.enumerated() {
                    try encodeScalar(field, element, path: "\(path)[\(index)]", into: &bytes)
                }
                appendVarint(UInt64(field.number) << 3 | 2, &out)
                appendVarint(UInt64(bytes.count), &out)
                out += bytes
            } else {
                for (index, element) in elements.enumerated() {
                    guard element != .null else { throw LocalRuntimeError.input("\(path)[\(index)] is null") }
                    try encodeValue(field, element, path: "\(path)[\(index)]", into: &out, always: true)
                }
            }
            return
        }
        try encodeValue(field, value, path: path, into: &out)
    }

    /// One value with its tag. Proto3 fields without presence are left out when they
    /// hold their default, unless `always` (elements of repeated fields).
    private func encodeValue(
        _ field: Field, _ value: JSONValue, path: String, into out: inout [UInt8], always: Bool = false
    ) throws {
        let skipDefault = !field.explicitPresence && !always
        switch field.kind {
        case .message, .group:
            guard let message = messages[field.typeName] else {
                throw LocalRuntimeError.input("\(path): message \(field.typeName) is not in the descriptor set")
            }
            var bytes: [UInt8] = []
            if message.fullName == "google.protobuf.Timestamp" || message.fullName == "google.protobuf.Duration",
               case let .string(text) = value
            {
                // RFC 3339 timestamps and "1.5s" durations.
                let timestamp = message.fullName.hasSuffix("Timestamp")
                guard let (seconds, nanos) = timestamp ? Self.parseTimestamp(text) : Self.parseDuration(text) else {
                    throw LocalRuntimeError.input(
                        "\(path): \"\(text)\" is not " + (timestamp ? "an RFC 3339 timestamp (1972-01-01T10:00:20.021Z)" : "a duration (1.5s)"))
                }
                try encode(["seconds": .integer(seconds), "nanos": .integer(Int64(nanos))], message, path: path, into: &bytes)
            } else if let wrapped = Self.wrapperValueField(message), !isObject(value) {
                // google.protobuf.*Value wrappers take their value itself.
                try encodeValue(wrapped, value, path: path, into: &bytes)
            } else {
                guard case let .object(object) = value else {
                    throw LocalRuntimeError.input("\(path) needs an object (\(message.fullName)), not \(value.kind)")
                }
                try encode(object, message, path: path, into: &bytes)
            }
            if field.kind == .group {
                appendVarint(UInt64(field.number) << 3 | 3, &out)
                out += bytes
                appendVarint(UInt64(field.number) << 3 | 4, &out)
            } else {
                appendVarint(UInt64(field.number) << 3 | 2, &out)
                appendVarint(UInt64(bytes.count), &out)
                out += bytes
            }
        case .string:
            guard case let .string(text) = value else { throw LocalRuntimeError.input("\(path) needs a string, not \(value.kind)") }
            if text.isEmpty && skipDefault { return }
            appendVarint(UInt64(field.number) << 3 | 2, &out)
            appendVarint(UInt64(text.utf8.count), &out)
            out += Array(text.utf8)
        case .bytes:
            guard case let .string(text) = value, let bytes = Self.base64(text) else {
                throw LocalRuntimeError.input("\(path) needs base64 bytes, not \(value.kind == "a string" ? "invalid base64" : value.kind)")
            }
            if bytes.isEmpty && skipDefault { return }
            appendVarint(UInt64(field.number) << 3 | 2, &out)
            appendVarint(UInt64(bytes.count), &out)
            out += bytes
        default:
            var bytes: [UInt8] = []
            let isDefault = try encodeScalar(field, value, path: path, into: &bytes)
            if isDefault && skipDefault { return }
            appendVarint(UInt64(field.number) << 3 | Self.wireType(field.kind), &out)
            out += bytes
        }
    }

    private func isObject(_ value: JSONValue) -> Bool {
        if case .object = value { return true }
        return false
    }

    private static let wrappers: Set<String> = [
        "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
    ]

    private static func wrapperValueField(_ message: Message) -> Field? {
        wrappers.contains(message.fullName) ? message.fields.first : nil
    }

    private static func wireType(_ kind: Kind) -> UInt64 {
        switch kind {
        case .double, .fixed64, .sfixed64: return 1
        case .float, .fixed32, .sfixed32: return 5
        case .string, .bytes, .message: return 2
        case .group: return 3
        default: return 0
        }
    }

    /// A scalar's bytes without its tag; true if it is the type's default (zero).
    @discardableResult
    private func encodeScalar(_ field: Field, _ value: JSONValue, path: String, into out: inout [UInt8]) throws -> Bool {
        func signed(_ range: ClosedRange<Int64>) throws -> Int64 {
            guard let number = Self.integer(value), let exact = Int64(exactly: number), range.contains(exact) else {
                throw LocalRuntimeError.input("\(path) needs an integer in \(range), not \(Self.show(value))")
            }
            return exact
        }
        func unsigned(_ max: UInt64) throws -> UInt64 {
            guard let number = Self.integer(value), let exact = UInt64(exactly: number), exact <= max else {
                throw LocalRuntimeError.input("\(path) needs an integer in 0...\(max), not \(Self.show(value))")
            }
            return exact
        }
        switch field.kind {
        case .int32:
            let v = try signed(Int64(Int32.min)...Int64(Int32.max))
            appendVarint(UInt64(bitPattern: v), &out)
            return v == 0
        case .int64:
            let v = try signed(Int64.min...Int64.max)
            appendVarint(UInt64(bitPattern: v), &out)
            return v == 0
        case .uint32:
            let v = try unsigned(UInt64(UInt32.max))
            appendVarint(v, &out)
            return v == 0
        case .uint64:
            let v = try unsigned(UInt64.max)
            appendVarint(v, &out)
            return v == 0
        case .sint32:
            let v = Int32(try signed(Int64(Int32.min)...Int64(Int32.max)))
            appendVarint(UInt64(UInt32(bitPattern: (v << 1) ^ (v >> 31))), &out)
            return v == 0
        case .sint64:
            let v = try signed(Int64.min...Int64.max)
            appendVarint(UInt64(bitPattern: (v << 1) ^ (v >> 63)), &out)
            return v == 0
        case .fixed32:
            let v = UInt32(try unsigned(UInt64(UInt32.max)))
            appendLittleEndian(UInt64(v), 4, &out)
            return v == 0
        case .sfixed32:
            let v = Int32(try signed(Int64(Int32.min)...Int64(Int32.max)))
            appendLittleEndian(UInt64(UInt32(bitPattern: v)), 4, &out)
            return v == 0
        case .fixed64:
            let v = try unsigned(UInt64.max)
            appendLittleEndian(v, 8, &out)
            return v == 0
        case .sfixed64:
            let v = try signed(Int64.min...Int64.max)
            appendLittleEndian(UInt64(bitPattern: v), 8, &out)
            return v == 0
        case .bool:
            guard case let .bool(flag) = value else { throw LocalRuntimeError.input("\(path) needs true or false, not \(Self.show(value))") }
            out.append(flag ? 1 : 0)
            return !flag
        case .double:
            let v = try Self.floatingPoint(value, path: path)
            appendLittleEndian(v.bitPattern, 8, &out)
            return v == 0
        case .float:
            let wide = try Self.floatingPoint(value, path: path)
            let v = Float(wide)
            if wide.isFinite && !v.isFinite { throw LocalRuntimeError.input("\(path): \(wide) is out of a float's range") }
            appendLittleEndian(UInt64(v.bitPattern), 4, &out)
            return v == 0
        case .enum:
            let number: Int32
            if case let .string(name) = value {
                guard let found = enums[field.typeName]?.values.first(where: { $0.name == name }) else {
                    let known = enums[field.typeName]?.values.map(\.name).joined(separator: ", ") ?? "none"
                    throw LocalRuntimeError.input("\(path): \"\(name)\" is not a value of \(field.typeName) (\(known))")
                }
                number = found.number
            } else {
                guard let integer = Self.integer(value), let exact = Int32(exactly: integer) else {
                    throw LocalRuntimeError.input("\(path) needs an enum value name or number, not \(Self.show(value))")
                }
                number = exact
            }
            appendVarint(UInt64(bitPattern: Int64(number)), &out)
            return number == 0
        default:
            throw LocalRuntimeError.input("\(path): a \(field.kind) cannot be packed")
        }
    }

    /// An integer given as a JSON number (integral) or a string of digits, as proto3 JSON allows.
    private static func integer(_ value: JSONValue) -> Int128? {
        switch value {
        case let .integer(v): return Int128(v)
        case let .unsigned(v): return Int128(v)
        case let .double(v): return v.rounded() == v && abs(v) < 1.8e19 ? Int128(exactly: v) : nil
        case let .string(text):
            if let v = Int64(text) { return Int128(v) }
            if let v = UInt64(text) { return Int128(v) }
            if let v = Double(text), v.rounded() == v, abs(v) < 1.8e19 { return Int128(exactly: v) }
            return nil
        default: return nil
        }
    }

    private static func floatingPoint(_ value: JSONValue, path: String) throws -> Double {
        switch value {
        case let .integer(v): return Double(v)
        case let .unsigned(v): return Double(v)
        case let .double(v): return v
        case let .string(text):
            switch text {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default:
                if let v = Double(text), v.isFinite { return v }
            }
        default: break
        }
        throw LocalRuntimeError.input("\(path) needs a number, not \(show(value))")
    }

    private static func show(_ value: JSONValue) -> String {
        switch value {
        case let .string(text): return "\"\(text)\""
        case let .integer(v): return String(v)
        case let .unsigned(v): return String(v)
        case let .double(v): return String(v)
        case let .bool(v): return String(v)
        default: return value.kind
        }
    }

    private static func base64(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }

    // MARK: Binary to JSON

    /// Decodes message `name` from the binary format into JSON values (for JSONSerialization):
    /// fields by JSON name, 64-bit integers as strings, enums by name, bytes as base64.
    /// `nil` if the bytes do not parse as that message.
    package func decode(_ bytes: [UInt8], as name: String) -> [String: Any]? {
        guard let message = messages[name] else { return nil }
        var reader = WireReader(bytes: bytes[...])
        return try? decode(message, &reader, depth: 0)
    }

    private struct Malformed: Error {}

    private struct WireReader {
        var bytes: ArraySlice<UInt8>

        var atEnd: Bool { bytes.isEmpty }

        mutating func varint() throws -> UInt64 {
            guard let (value, length) = readVarint(bytes) else { throw Malformed() }
            bytes = bytes.dropFirst(length)
            return value
        }

        mutating func fixed(_ count: Int) throws -> UInt64 {
            guard bytes.count >= count else { throw Malformed() }
            let value = bytes.prefix(count).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            bytes = bytes.dropFirst(count)
            return value
        }

        mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
            let length = try varint()
            guard length <= UInt64(bytes.count) else { throw Malformed() }
            let slice = bytes.prefix(Int(length))
            bytes = bytes.dropFirst(Int(length))
            return slice
        }

        mutating func skip(_ wireType: UInt64, number: UInt64) throws {
            switch wireType {
            case 0: _ = try varint()
            case 1: _ = try fixed(8)
            case 2: _ = try lengthDelimited()
            case 5: _ = try fixed(4)
            case 3:
                while true {
                    let key = try varint()
                    if key & 7 == 4 { guard key >> 3 == number else { throw Malformed() }; return }
                    try skip(key & 7, number: key >> 3)
                }
            default: throw Malformed()
            }
        }
    }

    private func decode(_ message: Message, _ reader: inout WireReader, depth: Int, group: Int? = nil) throws -> [String: Any] {
        guard depth < 64 else { throw Malformed() }
        var object: [String: Any] = [:]
        var lists: [Int: [Any]] = [:]
        var maps: [Int: [String: Any]] = [:]
        while !reader.atEnd {
            let key = try reader.varint()
            let number = Int(key >> 3)
            let wireType = key & 7
            guard number > 0 else { throw Malformed() }
            if wireType == 4 {
                guard number == group else { throw Malformed() }
                break
            }
            guard let field = message.fields.first(where: { $0.number == number }) else {
                try reader.skip(wireType, number: key >> 3)
                continue
            }
            if field.repeated, field.kind == .message, let entry = messages[field.typeName], entry.isMapEntry, wireType == 2 {
                var inner = WireReader(bytes: try reader.lengthDelimited())
                let pair = try decode(entry, &inner, depth: depth + 1)
                let keyName = entry.fields.first?.jsonName ?? "key"
                let valueName = entry.fields.count > 1 ? entry.fields[1].jsonName : "value"
                let keyText = pair[keyName].map { "\($0)" } ?? Self.defaultKey(entry.fields.first)
                maps[number, default: [:]][keyText] = pair[valueName] ?? Self.defaultJSON(entry.fields.count > 1 ? entry.fields[1] : nil)
                continue
            }
            var values: [Any] = []
            if wireType == 2 && ![.string, .bytes, .message].contains(field.kind) {
                // A packed run of scalars.
                var inner = WireReader(bytes: try reader.lengthDelimited())
                while !inner.atEnd { values.append(try scalar(field, Self.wireType(field.kind), &inner)) }
            } else {
                values.append(try value(field, wireType, &reader, depth: depth))
            }
            if field.repeated {
                lists[number, default: []] += values
            } else if let last = values.last {
                object[field.jsonName] = last
            }
        }
        for (number, list) in lists {
            if let field = message.fields.first(where: { $0.number == number }) { object[field.jsonName] = list }
        }
        for (number, map) in maps {
            if let field = message.fields.first(where: { $0.number == number }) { object[field.jsonName] = map }
        }
        return object
    }

    private static func defaultKey(_ field: Field?) -> String {
        switch field?.kind {
        case .string?: return ""
        case .bool?: return "false"
        default: return "0"
        }
    }

    private static func defaultJSON(_ field: Field?) -> Any {
        switch field?.kind {
        case .string?, .bytes?: return ""
        case .bool?: return false
        case .message?: return [String: Any]()
        case .int64?, .uint64?, .sint64?, .fixed64?, .sfixed64?: return "0"
        default: return 0
        }
    }

    private func value(_ field: Field, _ wireType: UInt64, _ reader: inout WireReader, depth: Int) throws -> Any {
        switch field.kind {
        case .message:
            guard wireType == 2, let message = messages[field.typeName] else { throw Malformed() }
            var inner = WireReader(bytes: try reader.lengthDelimited())
            let object = try decode(message, &inner, depth: depth + 1)
            if let wrapped = Self.wrapperValueField(message) { return object[wrapped.jsonName] ?? Self.defaultJSON(wrapped) }
            if message.fullName == "google.protobuf.Timestamp" || message.fullName == "google.protobuf.Duration" {
                let seconds = Int64((object["seconds"] as? String) ?? "0") ?? 0
                let nanos = (object["nanos"] as? Int32) ?? 0
                if message.fullName.hasSuffix("Timestamp") {
                    return Self.formatTimestamp(seconds, nanos) ?? object
                }
                return Self.formatDuration(seconds, nanos) ?? object
            }
            return object
        case .group:
            guard wireType == 3, let message = messages[field.typeName] else { throw Malformed() }
            return try decode(message, &reader, depth: depth + 1, group: field.number)
        case .string:
            guard wireType == 2 else { throw Malformed() }
            guard let text = String(validating: try reader.lengthDelimited(), as: UTF8.self) else { throw Malformed() }
            return text
        case .bytes:
            guard wireType == 2 else { throw Malformed() }
            return Data(try reader.lengthDelimited()).base64EncodedString()
        default:
            guard wireType == Self.wireType(field.kind) else { throw Malformed() }
            return try scalar(field, wireType, &reader)
        }
    }

    private func scalar(_ field: Field, _ wireType: UInt64, _ reader: inout WireReader) throws -> Any {
        func floating(_ value: Double) -> Any {
            if value.isNaN { return "NaN" }
            if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
            return value
        }
        switch field.kind {
        case .int32: return Int32(truncatingIfNeeded: Int64(bitPattern: try reader.varint()))
        case .int64: return String(Int64(bitPattern: try reader.varint()))
        case .uint32: return UInt32(truncatingIfNeeded: try reader.varint())
        case .uint64: return String(try reader.varint())
        case .sint32:
            let raw = UInt32(truncatingIfNeeded: try reader.varint())
            return Int32(bitPattern: raw >> 1) ^ -Int32(bitPattern: raw & 1)
        case .sint64:
            let raw = try reader.varint()
            return String(Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1))
        case .fixed32: return UInt32(try reader.fixed(4))
        case .sfixed32: return Int32(bitPattern: UInt32(try reader.fixed(4)))
        case .fixed64: return String(try reader.fixed(8))
        case .sfixed64: return String(Int64(bitPattern: try reader.fixed(8)))
        case .bool: return try reader.varint() != 0
        case .float: return floating(Double(Float(bitPattern: UInt32(try reader.fixed(4)))))
        case .double: return floating(Double(bitPattern: try reader.fixed(8)))
        case .enum:
            let number = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.varint()))
            if let name = enums[field.typeName]?.values.first(where: { $0.number == number })?.name { return name }
            return number
        default: throw Malformed()
        }
    }
}

// MARK: Timestamps and durations (proto3 JSON)

extension ProtobufSchema {
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as seconds and nanoseconds since 1970.
    static func parseTimestamp(_ text: String) -> (Int64, Int32)? {
        let u = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= u.count else { return nil }
            var value: Int64 = 0
            for index in range {
                guard u[index] >= 48, u[index] <= 57 else { return nil }
                value = value * 10 + Int64(u[index] - 48)
            }
            return value
        }
        guard u.count >= 20, let year = number(0..<4), u[4] == 45, let month = number(5..<7), u[7] == 45,
              let day = number(8..<10), u[10] == 84 || u[10] == 116, let hour = number(11..<13), u[13] == 58,
              let minute = number(14..<16), u[16] == 58, let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        guard let nanos = fraction(u, &index) else { return nil }
        var offset: Int64 = 0
        if index < u.count, u[index] == 90 || u[index] == 122 {
            index += 1
        } else if index < u.count, u[index] == 43 || u[index] == 45, let hours = number((index + 1)..<(index + 3)),
                  index + 3 < u.count, u[index + 3] == 58, let minutes = number((index + 4)..<(index + 6))
        {
            offset = (u[index] == 45 ? -1 : 1) * (hours * 3600 + minutes * 60)
            index += 6
        } else {
            return nil
        }
        guard index == u.count else { return nil }
        let seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
        return (seconds, nanos)
    }

    /// `[-]S[.fraction]s` as seconds and nanoseconds of the same sign.
    static func parseDuration(_ text: String) -> (Int64, Int32)? {
        let u = Array(text.utf8)
        var index = 0
        let negative = u.first == 45
        if negative { index = 1 }
        let start = index
        var seconds: Int64 = 0
        while index < u.count, u[index] >= 48, u[index] <= 57 {
            guard seconds < 315_576_000_000 else { return nil }
            seconds = seconds * 10 + Int64(u[index] - 48)
            index += 1
        }
        guard index > start, let nanos = fraction(u, &index), index == u.count - 1, u[index] == 115,
              seconds <= 315_576_000_000
        else { return nil }
        return negative ? (-seconds, -nanos) : (seconds, nanos)
    }

    /// An optional `.digits` (1 to 9) at `index`, as nanoseconds.
    private static func fraction(_ u: [UInt8], _ index: inout Int) -> Int32? {
        guard index < u.count, u[index] == 46 else { return 0 }
        index += 1
        var nanos: Int32 = 0
        var digits = 0
        while index < u.count, u[index] >= 48, u[index] <= 57 {
            guard digits < 9 else { return nil }
            nanos = nanos * 10 + Int32(u[index] - 48)
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        for _ in digits..<9 { nanos *= 10 }
        return nanos
    }

    static func formatTimestamp(_ seconds: Int64, _ nanos: Int32) -> String? {
        guard nanos >= 0, nanos < 1_000_000_000 else { return nil }
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - days * 86400
        let (year, month, day) = civilFromDays(days)
        guard (1...9999).contains(year) else { return nil }
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date = String(repeating: "0", count: max(0, 4 - String(year).count)) + "\(year)-\(two(month))-\(two(day))"
        return "\(date)T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))\(fractionText(nanos))Z"
    }

    static func formatDuration(_ seconds: Int64, _ nanos: Int32) -> String? {
        guard (seconds >= 0 && nanos >= 0) || (seconds <= 0 && nanos <= 0), abs(nanos) < 1_000_000_000 else { return nil }
        let sign = seconds < 0 || nanos < 0 ? "-" : ""
        return "\(sign)\(abs(seconds))\(fractionText(abs(nanos)))s"
    }

    /// Nothing, or 3, 6 or 9 digits, as proto3 JSON writes fractions.
    private static func fractionText(_ nanos: Int32) -> String {
        guard nanos != 0 else { return "" }
        var digits = String(nanos)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        if nanos % 1_000_000 == 0 { return "." + digits.prefix(3) }
        if nanos % 1000 == 0 { return "." + digits.prefix(6) }
        return "." + digits
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

private func appendVarint(_ value: UInt64, _ out: inout [UInt8]) {
    var value = value
    while value >= 0x80 {
        out.append(UInt8(value & 0x7f) | 0x80)
        value >>= 7
    }
    out.append(UInt8(value))
}

private func appendLittleEndian(_ value: UInt64, _ count: Int, _ out: inout [UInt8]) {
    for index in 0..<count { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
}
