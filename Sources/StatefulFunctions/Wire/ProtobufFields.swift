// Protobuf fields read and written by hand, where protobuf-c's
// descriptor-driven code would cost more than the field: the built-in
// wrappers, the egress records, the survey of a request's fields.

/// Writes a length-delimited field (tag, varint length, bytes) at the start of
/// `buffer`, which has room for it (at most 11 bytes more than `bytes`); returns its size.
func lengthDelimitedField(tag: UInt8, _ bytes: UnsafeBufferPointer<UInt8>, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
    buffer[0] = tag
    var at = 1
    var length = UInt64(bytes.count)
    while length >= 0x80 {
        buffer[at] = UInt8(truncatingIfNeeded: length) | 0x80
        length >>= 7
        at += 1
    }
    buffer[at] = UInt8(length)
    at += 1
    UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[at...]).copyMemory(from: UnsafeRawBufferPointer(bytes))
    return at + bytes.count
}

/// A message of string and bytes fields numbered 1 to 4, as protobuf writes
/// it: in order, empty fields left out (proto3). The bytes of a string are its
/// UTF-8, all of it (a NUL inside is kept). Four parameters rather than a
/// variadic list: an array of buffers per message would cost more than the rest.
func packLengthDelimitedFields(
    _ field1: UnsafeBufferPointer<UInt8>, _ field2: UnsafeBufferPointer<UInt8>, _ field3: UnsafeBufferPointer<UInt8>,
    _ field4: UnsafeBufferPointer<UInt8> = UnsafeBufferPointer(start: nil, count: 0)
) -> [UInt8] {
    func size(_ field: UnsafeBufferPointer<UInt8>) -> Int {
        if field.isEmpty { return 0 }
        var size = 2 + field.count
        var length = field.count
        while length >= 0x80 { size += 1; length >>= 7 }
        return size
    }
    return packedArray(atMost: size(field1) + size(field2) + size(field3) + size(field4)) { buffer in
        var count = 0
        func write(_ tag: UInt8, _ field: UnsafeBufferPointer<UInt8>) {
            guard !field.isEmpty else { return }
            count += lengthDelimitedField(tag: tag, field, into: UnsafeMutableBufferPointer(rebasing: buffer[count...]))
        }
        write(0x0A, field1)
        write(0x12, field2)
        write(0x1A, field3)
        write(0x22, field4)
        return count
    }
}

/// The length-delimited fields numbered `number` of a serialized message, in
/// order; nil when the bytes are not a sequence of protobuf fields.
func lengthDelimitedFields(_ bytes: UnsafeBufferPointer<UInt8>, number: UInt64) -> [UnsafeBufferPointer<UInt8>]? {
    var fields: [UnsafeBufferPointer<UInt8>] = []
    var at = 0
    while at < bytes.count {
        guard let (key, afterKey) = readVarint(bytes, at: at) else { return nil }
        at = afterKey
        switch key & 7 {
        case 0:
            guard let (_, next) = readVarint(bytes, at: at) else { return nil }
            at = next
        case 1: at += 8
        case 5: at += 4
        case 2:
            guard let (length, start) = readVarint(bytes, at: at), length <= UInt64(bytes.count - start) else { return nil }
            at = start + Int(length)
            if key >> 3 == number { fields.append(UnsafeBufferPointer(rebasing: bytes[start..<at])) }
        default: return nil
        }
        guard at <= bytes.count else { return nil }
    }
    return fields
}
