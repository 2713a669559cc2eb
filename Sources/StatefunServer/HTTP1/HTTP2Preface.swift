// The HTTP/2 connection preface as the HTTP/1.1 side sees it: a connection that
// begins with it switches to HTTP/2 (prior knowledge); one that begins with its
// request line and goes on with something else is refused with a GOAWAY, not
// an HTTP/1.1 answer the client cannot read.

/// The bytes of the HTTP/2 preface's request line, `PRI * HTTP/2.0\r\n`: a
/// connection that begins with them is HTTP/2 (prior knowledge) whatever follows.
let http2PrefaceRequestLine = 16

/// GOAWAY(last stream 0, PROTOCOL_ERROR): RFC 9113 §3.4, an invalid connection preface.
let invalidPrefaceGoaway: [UInt8] = [
    0, 0, 8, 0x7, 0, 0, 0, 0, 0,  // length 8, GOAWAY, no flags, stream 0
    0, 0, 0, 0,  // last stream id
    0, 0, 0, 1,  // PROTOCOL_ERROR
]
