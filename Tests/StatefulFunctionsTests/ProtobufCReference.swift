@testable import StatefulFunctions
import CStatefunProtocol

// protobuf-c's own packing of the built-in types and egress records: the
// reference the SDK's hand-written encoders are checked against byte for byte
// (BuiltInWireTests). Only the tests use them.

extension Bool {
    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__BooleanWrapper()
        io__statefun__sdk__types__boolean_wrapper__init(&wrapper)
        wrapper.value = self ? 1 : 0
        return packProtobufC(&wrapper)
    }
}

extension Int32 {
    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__IntWrapper()
        io__statefun__sdk__types__int_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension Int64 {
    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__LongWrapper()
        io__statefun__sdk__types__long_wrapper__init(&wrapper)
        wrapper.value = self
        return packProtobufC(&wrapper)
    }
}

extension String {
    func packedByProtobufC() -> [UInt8] {
        var wrapper = Io__Statefun__Sdk__Types__StringWrapper()
        io__statefun__sdk__types__string_wrapper__init(&wrapper)
        var string = self
        return string.withUTF8 { value in
            wrapper.value = ProtobufCBinaryData(value)
            return packProtobufC(&wrapper)
        }
    }
}

extension KafkaProducerRecord {
    func packedByProtobufC() -> [UInt8] {
        var record = Org__Apache__Flink__Statefun__Flink__Io__KafkaProducerRecord()
        org__apache__flink__statefun__flink__io__kafka_producer_record__init(&record)
        var topic = topic
        return keyBytes.withUnsafeBufferPointer { key in
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

extension KinesisEgressRecord {
    func packedByProtobufC() -> [UInt8] {
        var record = Org__Apache__Flink__Statefun__Flink__Io__KinesisEgressRecord()
        org__apache__flink__statefun__flink__io__kinesis_egress_record__init(&record)
        var stream = stream, explicitHashKey = explicitHashKey
        return partitionKeyBytes.withUnsafeBufferPointer { partitionKey in
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
