import CStatefunProtocol

/// An address's three string fields as read, as both protocols carry them.
struct AddressFields {
    var namespace: ProtobufCBinaryData
    var type: ProtobufCBinaryData
    var id: ProtobufCBinaryData
}

/// A message value's fields as read: a 2.x `google.protobuf.Any` (type URL,
/// value) or a 3.x `TypedValue` (typename, has_value, value).
struct ValueFields {
    var typeName: ProtobufCBinaryData
    /// 3.x's `has_value`; a 2.x `Any` always has its value.
    var hasValue: Bool
    var bytes: ProtobufCBinaryData

    static var empty: ProtobufCBinaryData { ProtobufCBinaryData(len: 0, data: nil) }
}

/// The fields of one reply's delayed message or cancellation, as read.
struct DelayedFields<Schema: WireSchema> {
    var delayInMilliseconds: Int64
    var target: UnsafeMutablePointer<Schema.Address>?
    var argument: UnsafeMutablePointer<Schema.Value>?
    var isCancellation: Bool
    var cancellationToken: ProtobufCBinaryData
}

/// One StateFun protocol's request and reply messages, as protobuf-c generates
/// them: which struct is which message and which field holds what. Nothing
/// else: the walk over a request (``RequestDecoder``), over a reply
/// (``ReplyEncoder``) and the runtime's side (``RuntimeCodec``) are written
/// once, generic over a schema; ``SchemaV2`` and ``SchemaV3`` conform.
///
/// Building takes only ``FieldBytes`` for a string or bytes field and
/// messages made by the ``Arena``, so whatever a schema builds is counted in the
/// arena's packed-size bound.
///
/// The two protocols have the same messages with the same field numbers, but a
/// 2.x value is a `google.protobuf.Any` and a 3.x one a `TypedValue`; a 2.x
/// state's value is an `Any` in a `bytes` field (empty: absent); only 3.x has
/// value specs (an `IncompleteInvocationContext` reply) and cancellations.
protocol WireSchema {
    static var version: ProtocolVersion { get }
    /// Whether functions declare their states with value specs, which a request
    /// must carry (3.x), or module.yaml declares them (2.x).
    static var hasValueSpecs: Bool { get }

    associatedtype Address
    /// A message value: `google.protobuf.Any` (2.x) or `TypedValue` (3.x).
    associatedtype Value
    associatedtype ToFunction
    associatedtype Batch
    /// `ToFunction.PersistedValue`.
    associatedtype State
    /// `ToFunction.Invocation`.
    associatedtype Invocation
    associatedtype FromFunction
    /// `FromFunction.InvocationResponse`.
    associatedtype Response
    associatedtype Mutation
    /// `FromFunction.Invocation`.
    associatedtype Outgoing
    /// `FromFunction.DelayedInvocation`.
    associatedtype Delayed
    /// `FromFunction.EgressMessage`.
    associatedtype Egress

    // MARK: Values and addresses

    static func address(_ address: UnsafeMutablePointer<Address>) -> AddressFields
    static func makeAddress(
        namespace: FieldBytes, type: FieldBytes, id: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Address>
    static func value(_ value: UnsafeMutablePointer<Value>) -> ValueFields
    /// Points a value's bytes field at `bytes`: for the arena, which counted
    /// them (``Arena/lend(_:to:)``), and no one else.
    static func setValueBytes(_ value: UnsafeMutablePointer<Value>, _ bytes: ProtobufCBinaryData)
    /// A value; `hasValue` `false` (3.x's `has_value`) is a value of its type
    /// that holds none (2.x has no such field).
    static func makeValue(
        typeName: FieldBytes, hasValue: Bool, bytes: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Value>

    // MARK: ToFunction

    static func unpackRequest(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>?, _ bytes: UnsafeBufferPointer<UInt8>
    ) -> UnsafeMutablePointer<ToFunction>?
    /// Why protobuf-c could not decode `body` as a request.
    static func undecodableRequest(_ body: UnsafeBufferPointer<UInt8>) -> String
    /// The request's invocation batch (`nil`: it carries none).
    static func batch(_ request: UnsafeMutablePointer<ToFunction>) -> UnsafeMutablePointer<Batch>?
    static func target(_ batch: UnsafeMutablePointer<Batch>) -> UnsafeMutablePointer<Address>?
    static func states(_ batch: UnsafeMutablePointer<Batch>) -> UnsafeBufferPointer<UnsafeMutablePointer<State>?>
    static func invocations(_ batch: UnsafeMutablePointer<Batch>) -> UnsafeBufferPointer<UnsafeMutablePointer<Invocation>?>
    static func state(_ state: UnsafeMutablePointer<State>) -> (name: ProtobufCBinaryData, value: UnsafeMutablePointer<Value>?)
    static func invocation(
        _ invocation: UnsafeMutablePointer<Invocation>
    ) -> (caller: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>?)
    /// The value of a request's state, as the official SDKs read it (`nil`: none).
    ///
    /// - Parameters:
    ///   - typeNames: the type names seen so far (and the declared ones).
    ///   - exact: whether the request takes the exact path (``WireNormalizer``);
    ///     on the fast path, a value read otherwise there throws ``IrregularRequest``.
    static func stateValue(
        _ value: UnsafeMutablePointer<Value>?, typeNames: inout FieldInterner, exact: Bool, _ what: () -> String
    ) throws -> AnyMessage?
    /// How the errors name an argument's type name.
    static var argumentTypeNameField: String { get }

    static func makeRequest(_ batch: UnsafeMutablePointer<Batch>, in arena: Arena) -> UnsafeMutablePointer<ToFunction>
    static func makeBatch(
        target: UnsafeMutablePointer<Address>, states: UnsafeMutableBufferPointer<UnsafeMutablePointer<State>?>,
        invocations: UnsafeMutableBufferPointer<UnsafeMutablePointer<Invocation>?>, in arena: Arena
    ) -> UnsafeMutablePointer<Batch>
    /// A request's state: `value` `nil` is a state the runtime holds no value for.
    static func makeState(name: String, value: AnyMessage?, typeName: String?, in arena: Arena) -> UnsafeMutablePointer<State>
    static func makeInvocation(
        caller: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Invocation>

    // MARK: FromFunction

    static func unpackReply(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>?, _ bytes: UnsafeBufferPointer<UInt8>
    ) -> UnsafeMutablePointer<FromFunction>?
    /// Why protobuf-c could not decode `body` as a reply.
    static func undecodableReply(_ body: UnsafeBufferPointer<UInt8>) -> String
    /// The reply's invocation result (`nil`: it carries none).
    static func response(_ reply: UnsafeMutablePointer<FromFunction>) -> UnsafeMutablePointer<Response>?
    /// The value specs an `IncompleteInvocationContext` reply asks for (3.x); `nil` for any other reply.
    static func missingValues(_ reply: UnsafeMutablePointer<FromFunction>) -> [ValueSpec]?
    static func mutations(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Mutation>?>
    static func outgoing(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Outgoing>?>
    static func delayed(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Delayed>?>
    static func egress(_ response: UnsafeMutablePointer<Response>) -> UnsafeBufferPointer<UnsafeMutablePointer<Egress>?>
    /// A state mutation as the runtime applies it: the new value, or `nil` for a delete.
    static func mutation(_ mutation: UnsafeMutablePointer<Mutation>) -> (name: ProtobufCBinaryData, value: AnyMessage?)
    static func outgoing(
        _ outgoing: UnsafeMutablePointer<Outgoing>
    ) -> (target: UnsafeMutablePointer<Address>?, argument: UnsafeMutablePointer<Value>?)
    static func delayed(_ delayed: UnsafeMutablePointer<Delayed>) -> DelayedFields<Self>
    static func egress(
        _ egress: UnsafeMutablePointer<Egress>
    ) -> (namespace: ProtobufCBinaryData, type: ProtobufCBinaryData, argument: UnsafeMutablePointer<Value>?)

    /// Packs a reply holding `response`.
    static func packReply(_ response: UnsafeMutablePointer<Response>, in arena: Arena) -> [UInt8]
    static func makeResponse(in arena: Arena) -> UnsafeMutablePointer<Response>
    static func setMutations(
        _ response: UnsafeMutablePointer<Response>, _ mutations: UnsafeMutablePointer<UnsafeMutablePointer<Mutation>?>, count: Int)
    static func setOutgoing(
        _ response: UnsafeMutablePointer<Response>, _ outgoing: UnsafeMutablePointer<UnsafeMutablePointer<Outgoing>?>, count: Int)
    static func setDelayed(
        _ response: UnsafeMutablePointer<Response>, _ delayed: UnsafeMutablePointer<UnsafeMutablePointer<Delayed>?>, count: Int)
    static func setEgress(
        _ response: UnsafeMutablePointer<Response>, _ egress: UnsafeMutablePointer<UnsafeMutablePointer<Egress>?>, count: Int)
    /// A mutation: `value` `nil` deletes the state.
    static func makeMutation(
        name: FieldBytes, value: UnsafeMutablePointer<Value>?, in arena: Arena
    ) -> UnsafeMutablePointer<Mutation>
    static func makeOutgoing(
        target: UnsafeMutablePointer<Address>, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Outgoing>
    /// A delayed message; `cancellationToken` is empty for none (2.x has none).
    static func makeDelayed(
        delayInMilliseconds: Int64, target: UnsafeMutablePointer<Address>, argument: UnsafeMutablePointer<Value>,
        cancellationToken: FieldBytes, in arena: Arena
    ) -> UnsafeMutablePointer<Delayed>
    /// The cancellation of a delayed message (3.x); `nil` in 2.x, which has none.
    static func makeCancellation(token: FieldBytes, in arena: Arena) -> UnsafeMutablePointer<Delayed>?
    static func makeEgress(
        namespace: FieldBytes, type: FieldBytes, argument: UnsafeMutablePointer<Value>, in arena: Arena
    ) -> UnsafeMutablePointer<Egress>
    /// The reply to a request that lacks declared states (3.x; `nil` in 2.x,
    /// whose runtime declares the states itself and never lacks one).
    static func incompleteContextReply(missing specs: [ValueSpec]) -> [UInt8]?
}
