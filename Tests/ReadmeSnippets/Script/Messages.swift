// The README's "Message types" block, and the same conformance for the other
// messages its examples name (generated from Tests/ReadmeSnippets/Protos/readme.proto).
import ReadmeMessages
import StatefulFunctions

// readme-block-begin
import StatefulFunctionsProtobuf

extension User: PackableMessage {}   // type name: type.googleapis.com/<full protobuf name>
// readme-block-end

extension Admin: PackableMessage {}
extension Count: PackableMessage {}
extension Response: PackableMessage {}

/// The greeting of the README's persistence example.
func generateMessage(_ count: Int64, _ user: User) -> String {
    "Hello \(user.name), you have been seen \(count) times"
}

/// A 3.x state type of the README's value-spec example.
struct Session: JSONMessage {
    static let typeName = "com.example/Session"
    var started: Int64
}
