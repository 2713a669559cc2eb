import Foundation
import StatefulFunctions

// The binary format decoded to the proto3 JSON mapping, walking the schema.
extension ProtobufSchema {

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
