import CStatefunProtocol

// The egress records (Egress.swift) read by protobuf-c and written by hand
// from their fields' own bytes; protobuf-c's packing is the tests' reference.

typealias V2KafkaRecord = Org__Apache__Flink__Statefun__Flink__Io__KafkaProducerRecord
typealias V2KinesisRecord = Org__Apache__Flink__Statefun__Flink__Io__KinesisEgressRecord

extension KafkaProducerRecord {
    static func decoded(_ packedBytes: [UInt8]) throws -> Self {
        let record = decodeProtobufC(packedBytes, org__apache__flink__statefun__flink__io__kafka_producer_record__unpack) {
            KafkaProducerRecord(
                keyBytes: [UInt8](protobufC: $0.pointee.key), valueBytes: [UInt8](protobufC: $0.pointee.value_bytes),
                topic: String(repairing: $0.pointee.topic))
        }
        guard let record else { throw StatefulFunctionsError.malformedMessage("not a serialized KafkaProducerRecord") }
        return record
    }

    /// The record's fields written by hand, as protobuf-c would write them.
    func packedFields() -> [UInt8] {
        var topic = topic
        return keyField.withBytes { key in
            topic.withUTF8 { topic in
                valueBytes.withUnsafeBufferPointer { value in packLengthDelimitedFields(key, value, topic) }
            }
        }
    }
}

extension KinesisEgressRecord {
    static func decoded(_ packedBytes: [UInt8]) throws -> Self {
        let record = decodeProtobufC(packedBytes, org__apache__flink__statefun__flink__io__kinesis_egress_record__unpack) {
            KinesisEgressRecord(
                partitionKeyBytes: [UInt8](protobufC: $0.pointee.partition_key),
                valueBytes: [UInt8](protobufC: $0.pointee.value_bytes),
                stream: String(repairing: $0.pointee.stream),
                explicitHashKey: String(repairing: $0.pointee.explicit_hash_key))
        }
        guard let record else { throw StatefulFunctionsError.malformedMessage("not a serialized KinesisEgressRecord") }
        return record
    }

    /// The record's fields written by hand, as protobuf-c would write them.
    func packedFields() -> [UInt8] {
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
}

extension RecordBytesField {
    /// Lends the field's bytes: a text key's own UTF-8, without a copy.
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        switch self {
        case .text(var text): text.withUTF8(body)
        case .bytes(let bytes): bytes.withUnsafeBufferPointer(body)
        }
    }
}
