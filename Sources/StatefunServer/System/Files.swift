import Glibc

// Files, and the wall clock, for the failed-request dump.

/// `20250102T030405.678Z` (for file names) and `2025-01-02T03:04:05.678Z`.
func wallClockStamps() -> (String, String) {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var tm = Glibc.tm()
    gmtime_r(&seconds, &tm)
    func pad(_ value: Int32, _ width: Int) -> String { String(value).leftPaddedWithZeros(width) }
    let millis = pad(Int32(now.tv_nsec / 1_000_000), 3)
    let date = (pad(tm.tm_year + 1900, 4), pad(tm.tm_mon + 1, 2), pad(tm.tm_mday, 2))
    let time = (pad(tm.tm_hour, 2), pad(tm.tm_min, 2), pad(tm.tm_sec, 2))
    return (
        "\(date.0)\(date.1)\(date.2)T\(time.0)\(time.1)\(time.2).\(millis)Z",
        "\(date.0)-\(date.1)-\(date.2)T\(time.0):\(time.1):\(time.2).\(millis)Z"
    )
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws(HTTPServerError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    if fd < 0 { throw HTTPServerError(.system, errno: errno, "cannot create \(path): \(errnoDescription(errno))") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw HTTPServerError(.system, errno: errno, "cannot write \(path): \(errnoDescription(errno))")
        }
        offset += n
    }
}

/// `mkdir -p`.
func makeDirectories(_ path: String) throws(HTTPServerError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
        prefix += component
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw HTTPServerError(.system, errno: errno, "cannot create directory \(prefix): \(errnoDescription(errno))")
        }
        prefix += "/"
    }
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
        throw HTTPServerError(.system, "\(path) is not a directory")
    }
}
