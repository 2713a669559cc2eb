// The HTTP/1.1 → HTTP/2 upgrade of RFC 7540 §3.2: a request carrying
// `Upgrade: h2c`, `Connection: Upgrade, HTTP2-Settings` and one `HTTP2-Settings`
// field (the client's SETTINGS payload, base64url) is answered with 101, and
// its response is sent as stream 1 of the new HTTP/2 connection.

/// The decoded SETTINGS payload if `head` asks for a valid h2c upgrade, else nil
/// (the request is then served over HTTP/1.1, as RFC 9110 §7.8 allows).
func h2cUpgradeSettings(_ head: ParsedHead) -> [UInt8]? {
    guard head.version == .http11 else { return nil }
    var upgrade = false
    var connectionTokens: Set<String> = []
    var settings: [String] = []
    for (name, value) in head.headers {
        if asciiCaseInsensitiveEquals(name, "upgrade") {
            if value.split(separator: ",").contains(where: { asciiCaseInsensitiveEquals($0.trimmingOWS(), "h2c") }) {
                upgrade = true
            }
        } else if asciiCaseInsensitiveEquals(name, "connection") {
            for token in value.split(separator: ",") { connectionTokens.insert(token.trimmingOWS().lowercased()) }
        } else if asciiCaseInsensitiveEquals(name, "http2-settings") {
            settings.append(value)
        }
    }
    guard upgrade, connectionTokens.contains("upgrade"), connectionTokens.contains("http2-settings"),
        settings.count == 1, let payload = base64URLDecode(settings[0]), payload.count % 6 == 0
    else { return nil }
    return payload
}

/// Decodes base64url (RFC 4648 §5), padding optional. Nil for any other character.
func base64URLDecode(_ text: String) -> [UInt8]? {
    var output: [UInt8] = []
    output.reserveCapacity(text.utf8.count * 3 / 4)
    var accumulator: UInt32 = 0
    var bits = 0
    var sawPadding = false
    for c in text.utf8 {
        let value: UInt32
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(c - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(c - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): value = 62
        case UInt8(ascii: "_"): value = 63
        case UInt8(ascii: "="):
            sawPadding = true
            continue
        default: return nil
        }
        if sawPadding { return nil }
        accumulator = (accumulator << 6) | value
        bits += 6
        if bits >= 8 {
            bits -= 8
            output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
        }
    }
    // Leftover bits must be zero padding of the last group (and fewer than 6).
    if bits >= 6 || accumulator & ((1 << UInt32(bits)) - 1) != 0 { return nil }
    return output
}
