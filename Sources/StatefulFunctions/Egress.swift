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

    var keyField: RecordBytesField
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
        self = try Self.decoded(packedBytes)
    }

    public func packedBytes() throws -> [UInt8] {
        packedFields()
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

    var partitionKeyField: RecordBytesField
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
        self = try Self.decoded(packedBytes)
    }

    public func packedBytes() throws -> [UInt8] {
        packedFields()
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
enum RecordBytesField: Sendable, Hashable {
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

    static func == (lhs: RecordBytesField, rhs: RecordBytesField) -> Bool {
        switch (lhs, rhs) {
        case (.text(let left), .text(let right)): left.utf8.elementsEqual(right.utf8)
        case (.bytes(let left), .bytes(let right)): left == right
        case (.text(let text), .bytes(let bytes)), (.bytes(let bytes), .text(let text)): text.utf8.elementsEqual(bytes)
        }
    }

    func hash(into hasher: inout Hasher) {
        switch self {
        case .text(let text): for byte in text.utf8 { hasher.combine(byte) }
        case .bytes(let bytes): for byte in bytes { hasher.combine(byte) }
        }
    }
}
