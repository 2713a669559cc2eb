// The HTTP/1.1 parser's entry with a buffer, for the fuzzers and tests that hold one.

/// ``scanHead(_:start:from:)`` over a buffer.
func scanHead(_ buffer: UnsafeBufferPointer<UInt8>, start: Int, from: Int) throws(HTTPError) -> HeadScan {
    try scanHead(Span(_unsafeElements: buffer), start: start, from: from)
}

/// ``parseHead(_:)`` over a buffer.
func parseHead(_ head: UnsafeBufferPointer<UInt8>) throws(HTTPError) -> ParsedHead {
    try parseHead(Span(_unsafeElements: head))
}

extension HeadCache {
    /// ``parse(_:)`` over a buffer.
    mutating func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(HTTPError) -> ParsedHead {
        try parse(Span(_unsafeElements: buffer))
    }
}

extension ChunkedDecoder {
    /// ``feed(_:into:maxBodySize:maxTrailerSize:)`` over a buffer.
    mutating func feed(
        _ input: UnsafeBufferPointer<UInt8>, into body: inout [UInt8], maxBodySize: Int, maxTrailerSize: Int
    ) throws(HTTPError) -> Int {
        try feed(Span(_unsafeElements: input), into: &body, maxBodySize: maxBodySize, maxTrailerSize: maxTrailerSize)
    }
}
