// The HTTP/1.1 request parser: head scanning (whole and incremental), head
// parsing, and the chunked body decoder (whole and split). Beyond memory
// errors and traps, it checks that incremental scanning and decoding agree
// with one-shot scanning and decoding.
// Input: one byte choosing the split points, then the request bytes.
@testable import StatefunServer

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let step = Int(data[0] % 32) + 1
    // The parser takes spans: the input copied into an array, whose span is safe.
    let buffer = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))

    // One-shot scan.
    let whole: Result<HeadScan, HTTPError> = Result { () throws(HTTPError) in try scanHead(buffer.span, start: 0, from: 0) }
    // Incremental scan, `step` bytes at a time, resuming where the last scan stopped.
    var resume = 0
    var incremental: Result<HeadScan, HTTPError> = .success(.incomplete(resumeAt: 0))
    var available = 0
    while available < buffer.count {
        available = min(buffer.count, available + step)
        do {
            let scan = try scanHead(buffer.span.extracting(0..<available), start: 0, from: resume)
            incremental = .success(scan)
            if case .incomplete(let at) = scan { resume = at } else { break }
        } catch {
            incremental = .failure(error)
            break
        }
    }
    switch (whole, incremental) {
    case (.success(.complete(let a)), .success(.complete(let b))):
        precondition(a == b, "head end differs: \(a) vs \(b)")
    case (.success(.incomplete), .success(.incomplete)), (.failure, .failure):
        break
    default:
        if buffer.count > 0 { preconditionFailure("one-shot and incremental head scans disagree: \(whole) vs \(incremental)") }
    }

    guard case .success(.complete(let end)) = whole else { return 0 }
    let head: ParsedHead
    do {
        head = try parseHead(buffer.span.extracting(0..<end))
    } catch {
        precondition((400...599).contains(error.status), "status \(error.status)")
        return 0
    }
    _ = head.keepAlive
    _ = head.hasBody
    guard head.chunked else { return 0 }

    // The chunked body: all at once, then in `step`-byte pieces; both must agree.
    let rest = Array(buffer[end...])
    func decode(pieces: Int) -> (body: [UInt8], consumed: Int, done: Bool, error: Int?) {
        var decoder = ChunkedDecoder()
        var body: [UInt8] = []
        var consumed = 0
        while consumed < rest.count && !decoder.isDone {
            let given = min(rest.count - consumed, pieces)
            do {
                let n = try decoder.feed(
                    rest.span.extracting(consumed..<(consumed + given)), into: &body,
                    maxBodySize: 1 << 16, maxTrailerSize: 256)
                precondition(n <= given, "consumed more than given")
                precondition(n == given || decoder.isDone, "stopped early while not done")
                consumed += n
            } catch {
                return (body, consumed, false, error.status)
            }
        }
        return (body, consumed, decoder.isDone, nil)
    }
    let a = decode(pieces: rest.count)
    let b = decode(pieces: step)
    if a.error == nil && b.error == nil {
        precondition(a.body == b.body && a.consumed == b.consumed && a.done == b.done, "chunked decoding depends on the split")
    } else {
        precondition(a.error == b.error, "chunked decoding errors depend on the split: \(String(describing: a.error)) vs \(String(describing: b.error))")
    }
    return 0
}
