import StatefulFunctions

extension StatefunService {
    /// Names the batch a request body carries, for the log line of a worker
    /// that died handling it (``Supervisor``): `example/greeter id=alice (2 invocations)`,
    /// or nil if the bytes do not start like a ToFunction. Reads the protobuf
    /// leniently, as the body may be cut short: the target comes first.
    /// (The 2.x and 3.x ToFunction have the same numbers on this path.)
    public static func describeRequest(_ body: [UInt8]) -> String? {
        var reader = ProtobufReader(body[...])
        while let (field, wireType) = reader.key() {
            guard field == 100, wireType == 2 else {
                guard reader.skip(wireType) else { return nil }
                continue
            }
            guard let batch = reader.lengthDelimited() else { return nil }
            return describeBatch(batch)
        }
        return nil
    }

    private static func describeBatch(_ bytes: ArraySlice<UInt8>) -> String? {
        var reader = ProtobufReader(bytes)
        var target: (namespace: String, type: String, id: String)?
        var invocations = 0
        while let (field, wireType) = reader.key() {
            if field == 1, wireType == 2, let address = reader.lengthDelimited() {
                var fields = ProtobufReader(address)
                var parts = ["", "", ""]
                while let (number, kind) = fields.key() {
                    if (1...3).contains(number), kind == 2, let text = fields.lengthDelimited() {
                        parts[number - 1] = String(decoding: text, as: UTF8.self)
                    } else if !fields.skip(kind) {
                        break
                    }
                }
                target = (parts[0], parts[1], parts[2])
            } else if field == 3, wireType == 2, reader.lengthDelimited() != nil {
                invocations += 1
            } else if !reader.skip(wireType) {
                break
            }
        }
        guard let target else { return nil }
        let count = invocations == 1 ? "1 invocation" : "\(invocations) invocations"
        return "\(target.namespace)/\(target.type) id=\(target.id) (\(count))"
    }
}

/// Just enough of the protobuf wire format to find a batch's target; a field
/// cut short by the end of the bytes yields what there is.
private struct ProtobufReader {
    var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    mutating func varint() -> UInt64? {
        guard let (value, length) = readVarint(bytes) else { return nil }
        bytes = bytes.dropFirst(length)
        return value
    }

    mutating func key() -> (Int, UInt64)? {
        guard let key = varint(), key >> 3 > 0, key >> 3 < 1 << 29 else { return nil }
        return (Int(key >> 3), key & 7)
    }

    mutating func lengthDelimited() -> ArraySlice<UInt8>? {
        guard let length = varint() else { return nil }
        let count = Int(min(length, UInt64(bytes.count)))
        defer { bytes = bytes.dropFirst(count) }
        return bytes.prefix(count)
    }

    mutating func skip(_ wireType: UInt64) -> Bool {
        switch wireType {
        case 0: return varint() != nil
        case 1: bytes = bytes.dropFirst(8); return true
        case 2: return lengthDelimited() != nil
        case 5: bytes = bytes.dropFirst(4); return true
        default: return false
        }
    }
}
