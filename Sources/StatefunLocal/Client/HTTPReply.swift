/// An HTTP response as the runtime reads it.
package struct HTTPReply: Sendable {
    package let status: Int
    package let contentType: String?
    package let body: [UInt8]
}
