/// Incremental decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1).
/// Chunk extensions are tolerated and ignored, trailers are read and discarded;
/// every line must end in CRLF.
struct ChunkedDecoder {
    private enum State {
        case sizeStart
        case size
        case sizeTail(sawSemicolon: Bool)
        case sizeLF
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF(lastLine: Bool)
        case done
    }

    private var state = State.sizeStart
    private var chunkSize = 0
    private var lineLength = 0
    private var trailerBytes = 0
    private static let maxSizeLineLength = 4096

    var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes bytes from `input`, appending chunk data to `body`. Returns how
    /// many bytes were consumed; stops right after the final CRLF of the body.
    mutating func feed(
        _ input: Span<UInt8>, into body: inout [UInt8], maxBodySize: Int, maxTrailerSize: Int
    ) throws(HTTPError) -> Int {
        var i = 0
        while i < input.count {
            let c = input[i]
            switch state {
            case .sizeStart, .size:
                if let digit = hexValue(c) {
                    if chunkSize > (Int.max - 15) / 16 { throw HTTPError(400, "chunk size too large") }
                    chunkSize = chunkSize * 16 + digit
                    state = .size
                } else if case .size = state, c == CR {
                    state = .sizeLF
                } else if case .size = state, c == UInt8(ascii: ";") {
                    state = .sizeTail(sawSemicolon: true)
                } else if case .size = state, isOWS(c) {
                    state = .sizeTail(sawSemicolon: false)
                } else {
                    throw HTTPError(400, "invalid chunk size")
                }
                try countSizeLineByte()
            case .sizeTail(let sawSemicolon):
                if c == CR {
                    state = .sizeLF
                } else if c == UInt8(ascii: ";") {
                    state = .sizeTail(sawSemicolon: true)
                } else if isOWS(c) {
                    break
                } else if sawSemicolon && isFieldValueByte(c) {
                    break  // chunk extension content, ignored
                } else {
                    throw HTTPError(400, "invalid chunk size line")
                }
                try countSizeLineByte()
            case .sizeLF:
                guard c == LF else { throw HTTPError(400, "chunk size line not terminated by CRLF") }
                lineLength = 0
                if chunkSize == 0 {
                    state = .trailerLineStart
                } else {
                    if chunkSize > maxBodySize - body.count {
                        throw HTTPError(413, "request body exceeds the limit of \(maxBodySize) bytes")
                    }
                    state = .data(remaining: chunkSize)
                    chunkSize = 0
                }
            case .data(let remaining):
                let n = min(remaining, input.count - i)
                body.append(copying: input.extracting(i..<(i + n)))
                i += n
                state = n == remaining ? .dataCR : .data(remaining: remaining - n)
                continue
            case .dataCR:
                guard c == CR else { throw HTTPError(400, "chunk data not followed by CRLF") }
                state = .dataLF
            case .dataLF:
                guard c == LF else { throw HTTPError(400, "chunk data not followed by CRLF") }
                state = .sizeStart
            case .trailerLineStart:
                if c == CR {
                    state = .trailerLF(lastLine: true)
                } else if c == LF {
                    throw HTTPError(400, "bare LF in chunked trailer section")
                } else if isOWS(c) {
                    throw HTTPError(400, "obsolete line folding in trailer section")
                } else {
                    state = .trailerLine
                }
                try countTrailerByte(maxTrailerSize)
            case .trailerLine:
                if c == CR {
                    state = .trailerLF(lastLine: false)
                } else if c == LF {
                    throw HTTPError(400, "bare LF in chunked trailer section")
                } else if !isFieldValueByte(c) {
                    throw HTTPError(400, "control character in trailer section")
                }
                try countTrailerByte(maxTrailerSize)
            case .trailerLF(let lastLine):
                guard c == LF else { throw HTTPError(400, "trailer line not terminated by CRLF") }
                if lastLine {
                    state = .done
                    return i + 1
                }
                state = .trailerLineStart
                try countTrailerByte(maxTrailerSize)
            case .done:
                return i
            }
            i += 1
        }
        return i
    }

    private mutating func countSizeLineByte() throws(HTTPError) {
        lineLength += 1
        if lineLength > Self.maxSizeLineLength { throw HTTPError(400, "chunk size line too long") }
    }

    private mutating func countTrailerByte(_ limit: Int) throws(HTTPError) {
        trailerBytes += 1
        if trailerBytes > limit { throw HTTPError(431, "chunked trailer section too large") }
    }
}
