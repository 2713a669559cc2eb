// An array's storage compared by address: a cache hit without comparing
// the elements (FieldsCache).

extension Array {
    /// Whether both arrays are views of one storage (a copy of the other, unchanged since).
    @inline(__always)
    func sharesStorage(with other: [Element]) -> Bool {
        withUnsafeBufferPointer { mine in other.withUnsafeBufferPointer { mine.baseAddress == $0.baseAddress } }
    }
}
