import Foundation

/// Schema-less protobuf: messages as `{"field number": value}`, for ingress
/// lines and for showing egress values whose schema the tool does not know.
package enum ProtobufFields {
    /// Encodes fields: strings and nested objects as length-delimited, integers
    /// and booleans as varints, arrays as repeated fields.
    package static func encode(_ fields: [String: Any]) throws -> [UInt8] {
        var out: [UInt8] = []
        for key in fields.keys.sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) {
            guard let number = UInt64(key), number > 0 else { throw LocalRuntimeError.input("field keys are numbers: \(key)") }
            for value in (fields[key] as? [Any]) ?? [fields[key]!] {
                try append(number, value, to: &out)
            }
        }
        return out
    }

    private static func append(_ number: UInt64, _ value: Any, to out: inout [UInt8]) throws {
        if let text = value as? String {
            varint(number << 3 | 2, &out); varint(UInt64(text.utf8.count), &out); out += Array(text.utf8)
        } else if let nested = value as? [String: Any] {
            let bytes = try encode(nested)
            varint(number << 3 | 2, &out); varint(UInt64(bytes.count), &out); out += bytes
        } else if let number2 = value as? NSNumber {
            varint(number << 3, &out); varint(UInt64(bitPattern: number2.int64Value), &out)
        } else {
            throw LocalRuntimeError.input("unsupported field value \(value)")
        }
    }

    private static func varint(_ value: UInt64, _ out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    /// Decodes a message without its schema; `nil` if the bytes are not a
    /// well-formed message. Length-delimited fields show as text when they are
    /// UTF-8, else as nested messages, else base64.
    package static func decode(_ bytes: [UInt8], depth: Int = 0) -> [String: Any]? {
        var fields: [String: [Any]] = [:]
        var i = 0
        func readVarint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let byte = bytes[i]
                i += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
        while i < bytes.count {
            guard let key = readVarint(), key >> 3 > 0 else { return nil }
            let number = String(key >> 3)
            switch key & 7 {
            case 0:
                guard let value = readVarint() else { return nil }
                fields[number, default: []].append(Int64(bitPattern: value))
            case 1:
                guard i + 8 <= bytes.count else { return nil }
                fields[number, default: []].append(bytes[i..<(i + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
                i += 8
            case 5:
                guard i + 4 <= bytes.count else { return nil }
                fields[number, default: []].append(bytes[i..<(i + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                i += 4
            case 2:
                guard let length = readVarint(), length <= UInt64(bytes.count - i) else { return nil }
                let slice = Array(bytes[i..<(i + Int(length))])
                i += Int(length)
                if let text = String(validating: slice, as: UTF8.self), !text.contains(where: { $0.isASCII && $0.asciiValue! < 0x20 }) {
                    fields[number, default: []].append(text)
                } else if depth < 8, let nested = decode(slice, depth: depth + 1) {
                    fields[number, default: []].append(nested)
                } else {
                    fields[number, default: []].append(Data(slice).base64EncodedString())
                }
            default:
                return nil
            }
        }
        return fields.mapValues { $0.count == 1 ? $0[0] : $0 }
    }
}
