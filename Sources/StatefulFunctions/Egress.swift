import CStatefunProtocol

typealias V2KafkaRecord = Org__Apache__Flink__Statefun__Flink__Io__KafkaProducerRecord
typealias V2KinesisRecord = Org__Apache__Flink__Statefun__Flink__Io__KinesisEgressRecord

/// A record for StateFun's generic Kafka egress: the 2.x
/// `org.apache.flink.statefun.flink.io.KafkaProducerRecord` and the 3.x
/// `io.statefun.sdk.egress.KafkaProducerRecord`, which have the same fields.
///
/// Under 2.x, build it with ``kafkaEgressRecord(topic:key:value:)`` and emit it with
/// `context.packAndSendEgress("example/kafka-egress", message: record)`; under 3.x,
/// `kafkaEgressMessage(typename:topic:key:value:)` builds the egress message.
/// Unpacking reads a record of either type name (`runtime.egress(_, as: KafkaProducerRecord.self)`).
public struct KafkaProducerRecord: PackableMessage, Hashable {
    /// The type URL of the 2.x record, which packing writes; unpacking also takes the
    /// 3.x ``kafkaProducerRecordTypeName``.
    public static var typeName: String { "type.googleapis.com/org.apache.flink.statefun.flink.io.KafkaProducerRecord" }

    private var keyField: RecordBytesField
    /// The serialized value.
    public var valueBytes: [UInt8]
    /// The destination topic.
    public var topic: String

    /// The record key's bytes, as Kafka gets them; may be empty.
    public var keyBytes: [UInt8] {
        get { keyField.bytes }
        set { keyField = .bytes(newValue) }
    }

    /// The record key as text (its bytes decoded as UTF-8, invalid sequences repaired).
    public var key: String {
        get { keyField.text }
        set { keyField = .text(newValue) }
    }

    /// Creates a record from its fields, unchecked.
    public init(key: String, valueBytes: [UInt8], topic: String) {
        self.keyField = .text(key)
        self.valueBytes = valueBytes
        self.topic = topic
    }

    /// Creates a record with a key of any bytes, unchecked.
    public init(keyBytes: [UInt8], valueBytes: [UInt8], topic: String) {
        self.keyField = .bytes(keyBytes)
        self.valueBytes = valueBytes
        self.topic = topic
    }

    public static func == (lhs: KafkaProducerRecord, rhs: KafkaProducerRecord) -> Bool {
        lhs.keyField == rhs.keyField && lhs.valueBytes == rhs.valueBytes && lhs.topic == rhs.topic
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(keyField)
        hasher.combine(valueBytes)
        hasher.combine(topic)
    }

    public init(packedBytes: [UInt8]) throws {
        let record = decodeProtobufC(packedBytes, org__apache__flink__statefun__flink__io__kafka_producer_record__unpack) {
            KafkaProducerRecord(
                keyBytes: [UInt8](protobufC: $0.pointee.key), valueBytes: [UInt8](protobufC: $0.pointee.value_bytes),
                topic: String(repairing: $0.pointee.topic))
        }
        guard let record else { throw StatefulFunctionsError.malformedMessage("not a serialized KafkaProducerRecord") }
        self = record
    }

    public func packedBytes() throws -> [UInt8] {
        var topic = topic
        return keyField.withBytes { key in
            topic.withUTF8 { topic in
                valueBytes.withUnsafeBufferPointer { value in packLengthDelimitedFields(key, value, topic) }
            }
        }
    }

    /// The record as protobuf-c packs it (the reference for ``packedBytes()``).
    func packedByProtobufC() -> [UInt8] {
        var record = V2KafkaRecord()
        org__apache__flink__statefun__flink__io__kafka_producer_record__init(&record)
        var topic = topic
        return keyField.withBytes { key in
            topic.withUTF8 { topic in
                valueBytes.withUnsafeBufferPointer { value in
                    record.key = ProtobufCBinaryData(key)
                    record.topic = ProtobufCBinaryData(topic)
                    record.value_bytes = ProtobufCBinaryData(value)
                    return packProtobufC(&record)
                }
            }
        }
    }
}

extension KafkaProducerRecord: AliasedMessage {
    static var typeNameAliases: [String] { [kafkaProducerRecordTypeName] }
}

/// A record for StateFun's generic Kinesis egress: the 2.x
/// `org.apache.flink.statefun.flink.io.KinesisEgressRecord` and the 3.x
/// `io.statefun.sdk.egress.KinesisEgressRecord`, which have the same fields.
/// Unpacking reads a record of either type name.
public struct KinesisEgressRecord: PackableMessage, Hashable {
    /// The type URL of the 2.x record, which packing writes; unpacking also takes the
    /// 3.x ``kinesisEgressRecordTypeName``.
    public static var typeName: String { "type.googleapis.com/org.apache.flink.statefun.flink.io.KinesisEgressRecord" }

    private var partitionKeyField: RecordBytesField
    /// The serialized value.
    public var valueBytes: [UInt8]
    /// The destination stream.
    public var stream: String
    /// The explicit hash key; may be empty.
    public var explicitHashKey: String

    /// The partition key's bytes.
    public var partitionKeyBytes: [UInt8] {
        get { partitionKeyField.bytes }
        set { partitionKeyField = .bytes(newValue) }
    }

    /// The partition key as text (its bytes decoded as UTF-8, invalid sequences repaired).
    public var partitionKey: String {
        get { partitionKeyField.text }
        set { partitionKeyField = .text(newValue) }
    }

    /// Creates a record from its fields, unchecked.
    public init(partitionKey: String, valueBytes: [UInt8], stream: String, explicitHashKey: String) {
        self.partitionKeyField = .text(partitionKey)
        self.valueBytes = valueBytes
        self.stream = stream
        self.explicitHashKey = explicitHashKey
    }

    /// Creates a record with a partition key of any bytes, unchecked.
    public init(partitionKeyBytes: [UInt8], valueBytes: [UInt8], stream: String, explicitHashKey: String) {
        self.partitionKeyField = .bytes(partitionKeyBytes)
        self.valueBytes = valueBytes
        self.stream = stream
        self.explicitHashKey = explicitHashKey
    }

    public static func == (lhs: KinesisEgressRecord, rhs: KinesisEgressRecord) -> Bool {
        lhs.partitionKeyField == rhs.partitionKeyField && lhs.valueBytes == rhs.valueBytes
            && lhs.stream == rhs.stream && lhs.explicitHashKey == rhs.explicitHashKey
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(partitionKeyField)
        hasher.combine(valueBytes)
        hasher.combine(stream)
        hasher.combine(explicitHashKey)
    }

    public init(packedBytes: [UInt8]) throws {
        let record = decodeProtobufC(packedBytes, org__apache__flink__statefun__flink__io__kinesis_egress_record__unpack) {
            KinesisEgressRecord(
                partitionKeyBytes: [UInt8](protobufC: $0.pointee.partition_key),
                valueBytes: [UInt8](protobufC: $0.pointee.value_bytes),
                stream: String(repairing: $0.pointee.stream),
                explicitHashKey: String(repairing: $0.pointee.explicit_hash_key))
        }
        guard let record else { throw StatefulFunctionsError.malformedMessage("not a serialized KinesisEgressRecord") }
        self = record
    }

    public func packedBytes() throws -> [UInt8] {
        var stream = stream, explicitHashKey = explicitHashKey
        return partitionKeyField.withBytes { partitionKey in
            stream.withUTF8 { stream in
                explicitHashKey.withUTF8 { explicitHashKey in
                    valueBytes.withUnsafeBufferPointer { value in
                        packLengthDelimitedFields(partitionKey, value, stream, explicitHashKey)
                    }
                }
            }
        }
    }

    /// The record as protobuf-c packs it (the reference for ``packedBytes()``).
    func packedByProtobufC() -> [UInt8] {
        var record = V2KinesisRecord()
        org__apache__flink__statefun__flink__io__kinesis_egress_record__init(&record)
        var stream = stream, explicitHashKey = explicitHashKey
        return partitionKeyField.withBytes { partitionKey in
            stream.withUTF8 { stream in
                explicitHashKey.withUTF8 { explicitHashKey in
                    valueBytes.withUnsafeBufferPointer { value in
                        record.partition_key = ProtobufCBinaryData(partitionKey)
                        record.stream = ProtobufCBinaryData(stream)
                        record.explicit_hash_key = ProtobufCBinaryData(explicitHashKey)
                        record.value_bytes = ProtobufCBinaryData(value)
                        return packProtobufC(&record)
                    }
                }
            }
        }
    }
}

extension KinesisEgressRecord: AliasedMessage {
    static var typeNameAliases: [String] { [kinesisEgressRecordTypeName] }
}

/// Builds a record for the Kafka generic egress.
///
/// - Parameters:
///   - topic: the destination topic; must not be empty.
///   - key: the record key; `nil` leaves it empty.
///   - value: the message produced; its serialized bytes become the record value.
/// - Throws: ``StatefulFunctionsError/missingArgument(_:)`` for an empty topic.
public func kafkaEgressRecord(topic: String, key: String? = nil, value: some PackableMessage) throws -> KafkaProducerRecord {
    guard !topic.isEmpty else { throw StatefulFunctionsError.missingArgument("destination Kafka topic") }
    return KafkaProducerRecord(key: key ?? "", valueBytes: try value.packedBytes(), topic: topic)
}

/// Builds a record for the Kinesis generic egress.
///
/// - Parameters:
///   - stream: the destination stream; must not be empty.
///   - partitionKey: the partition key; must not be empty.
///   - explicitHashKey: an explicit hash key; `nil` leaves it empty.
///   - value: the message produced; its serialized bytes become the record value.
/// - Throws: ``StatefulFunctionsError/missingArgument(_:)`` for an empty stream or partition key.
public func kinesisEgressRecord(
    stream: String, partitionKey: String, explicitHashKey: String? = nil, value: some PackableMessage
) throws -> KinesisEgressRecord {
    guard !stream.isEmpty else { throw StatefulFunctionsError.missingArgument("destination Kinesis stream") }
    guard !partitionKey.isEmpty else { throw StatefulFunctionsError.missingArgument("partition key") }
    return KinesisEgressRecord(
        partitionKey: partitionKey, valueBytes: try value.packedBytes(), stream: stream,
        explicitHashKey: explicitHashKey ?? "")
}


/// A key field of a record as it was given, text or bytes: a key given as text is
/// packed from the string's own UTF-8, without a copy into an array. Equal by bytes.
private enum RecordBytesField: Sendable, Hashable {
    case text(String)
    case bytes([UInt8])

    var bytes: [UInt8] {
        switch self {
        case .text(let text): Array(text.utf8)
        case .bytes(let bytes): bytes
        }
    }

    var text: String {
        switch self {
        case .text(let text): text
        case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }

    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        switch self {
        case .text(var text): text.withUTF8(body)
        case .bytes(let bytes): bytes.withUnsafeBufferPointer(body)
        }
    }

    static func == (lhs: RecordBytesField, rhs: RecordBytesField) -> Bool {
        lhs.withBytes { left in rhs.withBytes { right in left.elementsEqual(right) } }
    }

    func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
