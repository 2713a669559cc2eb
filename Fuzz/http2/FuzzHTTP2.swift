// The HTTP/2 input path of the real server: nghttp2's server session and our
// stream handling (routing, limits, bodies, responses, resets, GOAWAY), fed
// frames after a valid client connection preface.
// Input: one byte choosing the chunking (FuzzServer.chunks), then the frames
// (SETTINGS first, normally); the preface is sent before them.
import FuzzSupport

let server = FuzzServer()
let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    server.exchange([preface] + FuzzServer.chunks(input[1...], mode: input[0]))
    return 0
}
