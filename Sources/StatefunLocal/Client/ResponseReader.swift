import Foundation

/// Reads one HTTP/1.1 response: status line, headers, then a Content-Length or chunked body.
struct ResponseReader {
    let fd: Int32
    var buffer: [UInt8] = []
    var position = 0

    init(fd: Int32) { self.fd = fd }

    mutating func read() throws -> (HTTPReply, keepAlive: Bool) {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw LocalRuntimeError.connection("malformed status line: \(statusLine)")
        }
        var headers: [(String, String)] = []
        while true {
            let header = try line()
            if header.isEmpty { break }
            guard let colon = header.firstIndex(of: ":") else { continue }
            headers.append((header[..<colon].lowercased(), header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        func field(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
        var body: [UInt8] = []
        if field("transfer-encoding")?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try line()
                guard let size = Int(sizeLine.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw LocalRuntimeError.connection("malformed chunk size: \(sizeLine)")
                }
                if size == 0 {
                    while try !line().isEmpty {}
                    break
                }
                body += try bytes(size)
                _ = try line()
            }
        } else if let length = field("content-length").flatMap(Int.init) {
            body = try bytes(length)
        }
        let keepAlive = parts[0] == "HTTP/1.1" && field("connection")?.lowercased() != "close"
            && (field("content-length") != nil || field("transfer-encoding") != nil)
        return (HTTPReply(status: status, contentType: field("content-type"), body: body), keepAlive)
    }

    private mutating func fill() throws {
        buffer += try receiveSome(fd, limit: 64 * 1024)
    }

    private mutating func line() throws -> String {
        while true {
            if let end = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) {
                var lineEnd = end
                if lineEnd > position, buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                let text = String(decoding: buffer[position..<lineEnd], as: UTF8.self)
                position = end + 1
                return text
            }
            guard buffer.count - position < 64 * 1024 else { throw LocalRuntimeError.connection("response head too long") }
            try fill()
        }
    }

    private mutating func bytes(_ count: Int) throws -> [UInt8] {
        while buffer.count - position < count { try fill() }
        defer { position += count }
        return Array(buffer[position..<(position + count)])
    }
}
