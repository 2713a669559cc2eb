extension FunctionType {
    /// The UTF-8 offset of the last `/` of `typename`, scanned as bytes in
    /// place: this runs for every message a function sends.
    @inline(__always)
    static func lastSlashOffset(_ typename: String) -> Int? {
        typename.utf8.withContiguousStorageIfAvailable(lastSlash)
            ?? Array(typename.utf8).withUnsafeBufferPointer(lastSlash)
    }

    private static func lastSlash(_ utf8: UnsafeBufferPointer<UInt8>) -> Int? {
        utf8.lastIndex(of: UInt8(ascii: "/"))
    }
}
