/// The errors the SDK raises: bad arguments to the API, and problems with a request.
public enum StatefulFunctionsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A function or egress type name that is not `namespace/name`.
    case invalidTypename(String, reason: String)
    /// A required argument is missing or empty (the reference SDK's "missing …" errors).
    case missingArgument(String)
    /// An argument is present but not acceptable, such as a negative delay.
    case invalidArgument(String)
    /// `reply` was called for a message that has no caller (it came from an ingress).
    case noCaller
    /// A state name the request did not carry: in 2.x every state is declared
    /// in module.yaml, in 3.x by the function's value specs.
    case undeclaredState(String)
    /// A message whose type the function was not bound to accept.
    case unexpectedMessageType(typeURL: String, accepted: [String])
    /// A message unpacked as a type it does not hold.
    case typeMismatch(typeURL: String, expected: String)
    /// A value stored in a 3.x state of another type than the state's value spec declares.
    case stateTypeMismatch(state: String, typeURL: String, declared: String)
    /// Bytes that do not decode as the message they should hold.
    case malformedMessage(String)
    /// A function type bound a second time (each type is bound once).
    case alreadyBound(String)

    public var description: String {
        switch self {
        case let .invalidTypename(name, reason):
            return "invalid type name '\(name)': \(reason)"
        case let .missingArgument(what):
            return "missing \(what)"
        case let .invalidArgument(what):
            return what
        case .noCaller:
            return "unable to reply without a caller: was this message sent directly from an ingress?"
        case let .undeclaredState(name):
            return "unknown state name '\(name)': states must be declared for the function in module.yaml"
                + " (StateFun 2.x) or as a ValueSpec when it is bound (3.x)"
        case let .unexpectedMessageType(typeURL, accepted):
            return "unexpected message type '\(typeURL)'; the function accepts \(accepted.joined(separator: ", "))"
        case let .typeMismatch(typeURL, expected):
            return "message of type '\(typeURL)' cannot be unpacked as '\(expected)'"
        case let .stateTypeMismatch(state, typeURL, declared):
            return "cannot store a value of type '\(typeURL)' in state '\(state)', declared as '\(declared)'"
        case let .malformedMessage(what):
            return what
        case let .alreadyBound(typename):
            return "function type '\(typename)' is already bound; each function type is bound once"
        }
    }
}
