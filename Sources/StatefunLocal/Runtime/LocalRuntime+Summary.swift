import Foundation

extension LocalRuntime {
    /// What a run did.
    package struct Summary: Sendable {
        package var messages = 0
        package var batches = 0
        package var requests = 0
        package var retries = 0
        package var egressRecords = 0
        /// Delayed messages delivered when they fell due.
        package var delayedDeliveries = 0
        package var latencies: [Duration] = []

        /// The latency below which `fraction` of the requests completed.
        package func latency(_ fraction: Double) -> Duration {
            guard !latencies.isEmpty else { return .zero }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
        }

        package var description: String {
            func ms(_ d: Duration) -> String {
                String(format: "%.2f ms", Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            }
            return "\(messages) messages, \(batches) batches, \(requests) requests, \(retries) retries, "
                + "\(egressRecords) egress records, \(delayedDeliveries) delayed deliveries; "
                + "latency p50 \(ms(latency(0.5))), p99 \(ms(latency(0.99)))"
        }
    }
}
