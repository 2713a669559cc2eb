// StateFun 3.x Kafka and Kinesis egress messages, built as the official 3.x SDKs
// build them (Python's `kafka_egress_message`, Go's `KafkaEgressBuilder`, Java's
// `KafkaEgressMessage`): a record value is written as Kafka's own serializers write
// it, unless the caller names a value type, whose own encoding is then written.

/// The 3.x type name of a Kafka egress record.
public let kafkaProducerRecordTypeName = "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord"
/// The 3.x type name of a Kinesis egress record.
public let kinesisEgressRecordTypeName = "type.googleapis.com/io.statefun.sdk.egress.KinesisEgressRecord"

/// A value a 3.x Kafka record carries without a value type, written as Kafka's own
/// serializers write it: `String` as its UTF-8 bytes (`StringSerializer`), `[UInt8]`
/// as it is, `Int32`, `Int64`, `Float` and `Double` big-endian (`IntegerSerializer`,
/// `LongSerializer`, `FloatSerializer`, `DoubleSerializer`).
///
/// A consumer with the matching Kafka deserializer reads the value back. To write a
/// value in its StateFun encoding instead (a built-in's wrapper message, a protobuf
/// message, JSON), name its type: `kafkaEgressMessage(…, value: v, valueType: T.self)`.
public protocol KafkaRecordValue: Sendable {
    /// The bytes Kafka's serializer for this type writes.
    var kafkaRecordBytes: [UInt8] { get }
}

/// Bytes a record field takes as they are: `String` (its UTF-8) and `[UInt8]`. A Kafka
/// record's key and a Kinesis record's partition key, and a Kinesis record's value
/// without a value type.
public protocol RecordBytes: KafkaRecordValue {}

extension String: RecordBytes {
    public var kafkaRecordBytes: [UInt8] { Array(utf8) }
}

extension Array: KafkaRecordValue, RecordBytes where Element == UInt8 {
    public var kafkaRecordBytes: [UInt8] { self }
}

extension Int32: KafkaRecordValue {
    /// Big-endian, 4 bytes.
    public var kafkaRecordBytes: [UInt8] { bigEndianBytes(UInt64(UInt32(bitPattern: self)), size: 4) }
}

extension Int64: KafkaRecordValue {
    /// Big-endian, 8 bytes.
    public var kafkaRecordBytes: [UInt8] { bigEndianBytes(UInt64(bitPattern: self), size: 8) }
}

extension Float: KafkaRecordValue {
    /// The IEEE 754 bits, big-endian, 4 bytes.
    public var kafkaRecordBytes: [UInt8] { bigEndianBytes(UInt64(bitPattern), size: 4) }
}

extension Double: KafkaRecordValue {
    /// The IEEE 754 bits, big-endian, 8 bytes.
    public var kafkaRecordBytes: [UInt8] { bigEndianBytes(bitPattern, size: 8) }
}

private func bigEndianBytes(_ value: UInt64, size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(size - 1 - $0))) }
}

// MARK: Kafka

/// Builds a message for a 3.x Kafka generic egress (the Python SDK's `kafka_egress_message`).
///
/// ```swift
/// context.sendEgress(try kafkaEgressMessage(typename: "example/greets", topic: "greetings", key: name, value: "Hello \(name)"))
/// ```
///
/// - Parameters:
///   - typename: the egress, `namespace/name`, as declared in module.yaml.
///   - topic: the destination topic; must not be empty.
///   - key: the record key, as its UTF-8; `nil` leaves it empty. (A key of any
///     bytes: `key: [UInt8]`.)
///   - value: written as Kafka's serializers write it (see ``KafkaRecordValue``): a
///     string as its UTF-8, bytes as they are, numbers big-endian.
/// - Throws: ``StatefulFunctionsError/missingArgument(_:)`` for an empty topic.
public func kafkaEgressMessage(
    typename: String, topic: String, key: String? = nil, value: some KafkaRecordValue
) throws -> EgressMessage {
    try kafkaEgressMessage(typename: typename, topic: topic, keyBytes: key?.kafkaRecordBytes, valueBytes: value.kafkaRecordBytes)
}

/// Builds a message for a 3.x Kafka generic egress with a key of any bytes (Java's `withKey(byte[])`).
public func kafkaEgressMessage(
    typename: String, topic: String, key: some RecordBytes, value: some KafkaRecordValue
) throws -> EgressMessage {
    try kafkaEgressMessage(typename: typename, topic: topic, keyBytes: key.kafkaRecordBytes, valueBytes: value.kafkaRecordBytes)
}

/// Builds a message for a 3.x Kafka generic egress whose value is written in the
/// encoding of an explicit value type (Python's `value_type=`, Go's `ValueType`):
/// `value: Int32(7), valueType: Int32.self` writes the built-in `IntWrapper`, a protobuf
/// message its serialized form, a ``JSONMessage`` its JSON.
public func kafkaEgressMessage<Value: PackableMessage>(
    typename: String, topic: String, key: String? = nil, value: Value, valueType: Value.Type
) throws -> EgressMessage {
    try kafkaEgressMessage(typename: typename, topic: topic, keyBytes: key?.kafkaRecordBytes, valueBytes: value.packedBytes())
}

/// Builds a message for a 3.x Kafka generic egress with a key of any bytes and a value
/// written in the encoding of an explicit value type.
public func kafkaEgressMessage<Value: PackableMessage>(
    typename: String, topic: String, key: some RecordBytes, value: Value, valueType: Value.Type
) throws -> EgressMessage {
    try kafkaEgressMessage(typename: typename, topic: topic, keyBytes: key.kafkaRecordBytes, valueBytes: value.packedBytes())
}

/// Builds a message for a 3.x Kafka generic egress from raw value bytes.
public func kafkaEgressMessage(
    typename: String, topic: String, key: String? = nil, valueBytes: [UInt8]
) throws -> EgressMessage {
    try kafkaEgressMessage(typename: typename, topic: topic, keyBytes: key?.kafkaRecordBytes, valueBytes: valueBytes)
}

/// Builds a message for a 3.x Kafka generic egress from raw key and value bytes.
public func kafkaEgressMessage(
    typename: String, topic: String, key: some RecordBytes, valueBytes: [UInt8]
) throws -> EgressMessage {
    try kafkaEgressMessage(typename: typename, topic: topic, keyBytes: key.kafkaRecordBytes, valueBytes: valueBytes)
}

private func kafkaEgressMessage(
    typename: String, topic: String, keyBytes: [UInt8]?, valueBytes: [UInt8]
) throws -> EgressMessage {
    guard !topic.isEmpty else { throw StatefulFunctionsError.missingArgument("destination Kafka topic") }
    let record = KafkaProducerRecord(keyBytes: keyBytes ?? [], valueBytes: valueBytes, topic: topic)
    return try EgressMessage(typename, message: AnyMessage(typeURL: kafkaProducerRecordTypeName, value: record.packedBytes()))
}

// MARK: Kinesis

/// Builds a message for a 3.x Kinesis generic egress (the Python SDK's `kinesis_egress_message`).
///
/// - Parameters:
///   - typename: the egress, `namespace/name`, as declared in module.yaml.
///   - stream: the destination stream; must not be empty.
///   - partitionKey: a `String` (its UTF-8) or `[UInt8]`; must not be empty.
///   - explicitHashKey: an explicit hash key; `nil` leaves it empty.
///   - value: a string, written as its UTF-8, or bytes, as they are (see ``RecordBytes``).
/// - Throws: ``StatefulFunctionsError/missingArgument(_:)`` for an empty stream or partition key.
public func kinesisEgressMessage(
    typename: String, stream: String, partitionKey: some RecordBytes, explicitHashKey: String? = nil,
    value: some RecordBytes
) throws -> EgressMessage {
    try kinesisEgressMessage(
        typename: typename, stream: stream, partitionKeyBytes: partitionKey.kafkaRecordBytes,
        explicitHashKey: explicitHashKey, valueBytes: value.kafkaRecordBytes)
}

/// Builds a message for a 3.x Kinesis generic egress whose value is written in the
/// encoding of an explicit value type (`value: "hi", valueType: String.self` writes the
/// built-in `StringWrapper`).
public func kinesisEgressMessage<Value: PackableMessage>(
    typename: String, stream: String, partitionKey: some RecordBytes, explicitHashKey: String? = nil,
    value: Value, valueType: Value.Type
) throws -> EgressMessage {
    try kinesisEgressMessage(
        typename: typename, stream: stream, partitionKeyBytes: partitionKey.kafkaRecordBytes,
        explicitHashKey: explicitHashKey, valueBytes: value.packedBytes())
}

/// Builds a message for a 3.x Kinesis generic egress from raw value bytes.
public func kinesisEgressMessage(
    typename: String, stream: String, partitionKey: some RecordBytes, explicitHashKey: String? = nil,
    valueBytes: [UInt8]
) throws -> EgressMessage {
    try kinesisEgressMessage(
        typename: typename, stream: stream, partitionKeyBytes: partitionKey.kafkaRecordBytes,
        explicitHashKey: explicitHashKey, valueBytes: valueBytes)
}

private func kinesisEgressMessage(
    typename: String, stream: String, partitionKeyBytes: [UInt8], explicitHashKey: String?, valueBytes: [UInt8]
) throws -> EgressMessage {
    guard !stream.isEmpty else { throw StatefulFunctionsError.missingArgument("destination Kinesis stream") }
    guard !partitionKeyBytes.isEmpty else { throw StatefulFunctionsError.missingArgument("partition key") }
    let record = KinesisEgressRecord(
        partitionKeyBytes: partitionKeyBytes, valueBytes: valueBytes, stream: stream,
        explicitHashKey: explicitHashKey ?? "")
    return try EgressMessage(typename, message: AnyMessage(typeURL: kinesisEgressRecordTypeName, value: record.packedBytes()))
}
