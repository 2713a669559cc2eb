/// The last head parsed on a connection, so that a head repeating it is parsed
/// by comparison: a client such as the StateFun runtime sends the same head
/// every time but for the Content-Length value.
///
/// A head is taken from the cache when its bytes equal the cached head's, all
/// but the Content-Length value, which must be digits only (so nothing else can
/// hide there) and is parsed anew. Every other field of the parse follows from
/// those bytes, so the result is what ``parseHead(_:)`` would return.
struct HeadCache {
    private var bytes: [UInt8] = []
    private var head: ParsedHead?
    /// Heads longer than this are parsed, not kept.
    static let limit = 1024

    /// The head in `buffer` (request line to the empty line), parsed.
    mutating func parse(_ buffer: Span<UInt8>) throws(HTTPError) -> ParsedHead {
        if let cached = head, let hit = match(buffer, cached) {
            guard let value = hit,
                  value != cached.contentLengthValue || !equal(buffer, value.lowerBound, value.lowerBound, value.count)
            else { return cached }  // the very same head
            // The same head with another length: the new value, in the fields too.
            var parsed = cached
            let digits = buffer.extracting(value)
            parsed.contentLength = try parseContentLength(digits)
            if let index = parsed.contentLengthHeader { parsed.headers[index].value = makeString(digits) }
            parsed.contentLengthValue = value
            remember(buffer, parsed)
            return parsed
        }
        let parsed = try parseHead(buffer)
        remember(buffer, parsed)
        return parsed
    }

    private mutating func remember(_ buffer: Span<UInt8>, _ parsed: ParsedHead) {
        if buffer.count <= Self.limit {
            bytes.removeAll(keepingCapacity: true)
            bytes.append(copying: buffer)
            head = parsed
        } else {
            bytes = []
            head = nil
        }
    }

    /// Whether `buffer` repeats the cached head: `nil` if not; else the range of
    /// its Content-Length value (`.some(nil)` when the head has none).
    private func match(_ buffer: Span<UInt8>, _ cached: ParsedHead) -> Range<Int>?? {
        guard let value = cached.contentLengthValue else {
            guard buffer.count == bytes.count, equal(buffer, 0, 0, bytes.count) else { return nil }
            return .some(nil)
        }
        let suffix = bytes.count - value.upperBound
        let digits = buffer.count - value.lowerBound - suffix
        guard digits > 0, digits <= 19, equal(buffer, 0, 0, value.lowerBound),
              equal(buffer, buffer.count - suffix, value.upperBound, suffix)
        else { return nil }
        let range = value.lowerBound..<(value.lowerBound + digits)
        // Anything but digits there (another header line, say) is a different head.
        for i in range where buffer[i] < UInt8(ascii: "0") || buffer[i] > UInt8(ascii: "9") { return nil }
        return range
    }

    @inline(__always)
    private func equal(_ buffer: Span<UInt8>, _ at: Int, _ cachedAt: Int, _ count: Int) -> Bool {
        ByteScan.equal(buffer, at: at, bytes, at: cachedAt, count: count)
    }
}
