// A whole HTTP/1.1 connection of the real server (parser, body framing, the
// handler, the response path, keep-alive, lingering close, h2c upgrade, the
// switch to HTTP/2 on a preface) fed an arbitrary byte stream in arbitrary chunks.
// Input: one byte choosing the chunking (FuzzServer.chunks), then the stream.
import FuzzSupport

let server = FuzzServer()

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    server.exchange(FuzzServer.chunks(input[1...], mode: input[0]))
    return 0
}
