import CStatefunProtocol

typealias V2KafkaRecord = Org__Apache__Flink__Statefun__Flink__Io__KafkaProducerRecord
typealias V2KinesisRecord = Org__Apache__Flink__Statefun__Flink__Io__KinesisEgressRecord

/// A record for StateFun's generic Kafka egress (2.x `KafkaProducerRecord`).
///
/// Build it with ``kafkaEgressRecord(topic:key:value:)`` and emit it with
/// `context.packAndSendEgress("example/kafka-egress", message: record)`.
public struct KafkaProducerRecord: PackableMessage, Hashable {
    /// The type URL of the 2.x record.
    public static var typeName: String { "type.googleapis.com/org.apache.flink.statefun.flink.io.KafkaProducerRecord" }

    /// The record key; may be empty.
    public var key: String
    /// The serialized value.
    public var valueBytes: [UInt8]
    /// The destination topic.
    public var topic: String

    /// Creates a record from its fields, unchecked.
    public init(key: String, valueBytes: [UInt8], topic: String) {
        self.key = key
        self.valueBytes = valueBytes
        self.topic = topic
    }

    public init(packedBytes: [UInt8]) throws {
        let record = decodeProtobufC(packedBytes, org__apache__flink__statefun__flink__io__kafka_producer_record__unpack) {
            KafkaProducerRecord(
                key: String(repairing: $0.pointee.key), valueBytes: [UInt8](protobufC: $0.pointee.value_bytes),
                topic: String(repairing: $0.pointee.topic))
        }
        guard let record else { throw StatefulFunctionsError.malformedMessage("not a serialized KafkaProducerRecord") }
        self = record
    }

    public func packedBytes() throws -> [UInt8] {
        var key = key, topic = topic
        return key.withUTF8 { key in
            topic.withUTF8 { topic in
                valueBytes.withUnsafeBufferPointer { value in packLengthDelimitedFields(key, value, topic) }
            }
        }
    }

    /// The record as protobuf-c packs it (the reference for ``packedBytes()``).
    func packedByProtobufC() -> [UInt8] {
        var record = V2KafkaRecord()
        org__apache__flink__statefun__flink__io__kafka_producer_record__init(&record)
        var key = key, topic = topic
        return key.withUTF8 { key in
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

/// A record for StateFun's generic Kinesis egress (2.x `KinesisEgressRecord`).
public struct KinesisEgressRecord: PackableMessage, Hashable {
    /// The type URL of the 2.x record.
    public static var typeName: String { "type.googleapis.com/org.apache.flink.statefun.flink.io.KinesisEgressRecord" }

    /// The partition key.
    public var partitionKey: String
    /// The serialized value.
    public var valueBytes: [UInt8]
    /// The destination stream.
    public var stream: String
    /// The explicit hash key; may be empty.
    public var explicitHashKey: String

    /// Creates a record from its fields, unchecked.
    public init(partitionKey: String, valueBytes: [UInt8], stream: String, explicitHashKey: String) {
        self.partitionKey = partitionKey
        self.valueBytes = valueBytes
        self.stream = stream
        self.explicitHashKey = explicitHashKey
    }

    public init(packedBytes: [UInt8]) throws {
        let record = decodeProtobufC(packedBytes, org__apache__flink__statefun__flink__io__kinesis_egress_record__unpack) {
            KinesisEgressRecord(
                partitionKey: String(repairing: $0.pointee.partition_key),
                valueBytes: [UInt8](protobufC: $0.pointee.value_bytes),
                stream: String(repairing: $0.pointee.stream),
                explicitHashKey: String(repairing: $0.pointee.explicit_hash_key))
        }
        guard let record else { throw StatefulFunctionsError.malformedMessage("not a serialized KinesisEgressRecord") }
        self = record
    }

    public func packedBytes() throws -> [UInt8] {
        var partitionKey = partitionKey, stream = stream, explicitHashKey = explicitHashKey
        return partitionKey.withUTF8 { partitionKey in
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
        var partitionKey = partitionKey, stream = stream, explicitHashKey = explicitHashKey
        return partitionKey.withUTF8 { partitionKey in
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

// MARK: StateFun 3.x egress messages

/// The 3.x type name of a Kafka egress record.
public let kafkaProducerRecordTypeName = "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord"
/// The 3.x type name of a Kinesis egress record.
public let kinesisEgressRecordTypeName = "type.googleapis.com/io.statefun.sdk.egress.KinesisEgressRecord"

/// Builds a message for a 3.x Kafka generic egress (the Python SDK's `kafka_egress_message`).
///
/// - Parameters:
///   - typename: the egress, `namespace/name`, as declared in module.yaml.
///   - topic: the destination topic; must not be empty.
///   - key: the record key; `nil` leaves it empty.
///   - value: the value, written in its own encoding (a built-in `Int32` as an
///     `IntWrapper`, a protobuf message serialized, a JSON type as JSON).
public func kafkaEgressMessage(
    typename: String, topic: String, key: String? = nil, value: some PackableMessage
) throws -> EgressMessage {
    try kafkaEgressMessage(typename: typename, topic: topic, key: key, valueBytes: value.packedBytes())
}

/// Builds a message for a 3.x Kafka generic egress from raw value bytes.
public func kafkaEgressMessage(
    typename: String, topic: String, key: String? = nil, valueBytes: [UInt8]
) throws -> EgressMessage {
    guard !topic.isEmpty else { throw StatefulFunctionsError.missingArgument("destination Kafka topic") }
    let record = KafkaProducerRecord(key: key ?? "", valueBytes: valueBytes, topic: topic)
    return try EgressMessage(typename, message: AnyMessage(typeURL: kafkaProducerRecordTypeName, value: record.packedBytes()))
}

/// Builds a message for a 3.x Kinesis generic egress (the Python SDK's `kinesis_egress_message`).
public func kinesisEgressMessage(
    typename: String, stream: String, partitionKey: String, explicitHashKey: String? = nil,
    value: some PackableMessage
) throws -> EgressMessage {
    try kinesisEgressMessage(
        typename: typename, stream: stream, partitionKey: partitionKey, explicitHashKey: explicitHashKey,
        valueBytes: value.packedBytes())
}

/// Builds a message for a 3.x Kinesis generic egress from raw value bytes.
public func kinesisEgressMessage(
    typename: String, stream: String, partitionKey: String, explicitHashKey: String? = nil, valueBytes: [UInt8]
) throws -> EgressMessage {
    guard !stream.isEmpty else { throw StatefulFunctionsError.missingArgument("destination Kinesis stream") }
    guard !partitionKey.isEmpty else { throw StatefulFunctionsError.missingArgument("partition key") }
    let record = KinesisEgressRecord(
        partitionKey: partitionKey, valueBytes: valueBytes, stream: stream, explicitHashKey: explicitHashKey ?? "")
    return try EgressMessage(typename, message: AnyMessage(typeURL: kinesisEgressRecordTypeName, value: record.packedBytes()))
}
