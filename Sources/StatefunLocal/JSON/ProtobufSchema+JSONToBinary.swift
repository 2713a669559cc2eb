import Foundation

// The proto3 JSON mapping encoded to the binary format, walking the schema.
extension ProtobufSchema {

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

    static func wrapperValueField(_ message: Message) -> Field? {
        wrappers.contains(message.fullName) ? message.fields.first : nil
    }

    static func wireType(_ kind: Kind) -> UInt64 {
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
