import Foundation
package import StatefulFunctions
import StatefunRuntime

/// Plays the StateFun runtime against the endpoints of a module.yaml over HTTP.
///
/// As the runtime does: one request in flight per address, messages that arrive
/// meanwhile sent together as the next batch (up to `maxNumBatchRequests`);
/// state kept per address (2.x: the states module.yaml declares; 3.x: the specs
/// the endpoint asks for through an incomplete invocation context, then the
/// same batch again); messages routed to their functions; delayed messages on a
/// real or virtual clock, with cancellation; state expiration; retries with
/// exponential backoff on connection errors and on 408, 409, 420, 429, 499,
/// 500 and any 5xx, and failure on any other status. And where the runtime fails
/// the job: a message to a function type no endpoint serves ("Cannot find a
/// provider"), to an egress module.yaml does not declare ("Unknown egress") or of
/// a type the egress does not take, a second pending delayed message with one
/// cancellation token.
package actor LocalRuntime {
    private struct Delivery {
        let target: Address
        let caller: Address?
        let message: AnyMessage
    }

    private let module: ModuleFile
    private let client: HTTPClient
    private let options: Options
    private let output: @Sendable (String) -> Void
    private let started = ContinuousClock.now
    private var virtualNow: Duration = .zero
    private var scheduler = BatchScheduler<Delivery>()
    private var registeredSpecs: [FunctionType: [ValueSpec]] = [:]
    private var store = StateStore()
    private var delayed = DelayedQueue()
    private var failure: (any Error)?
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    package private(set) var summary = Summary()

    /// - Parameter output: receives each egress record as a JSON line.
    package init(module: ModuleFile, client: HTTPClient, options: Options, output: @escaping @Sendable (String) -> Void) {
        self.module = module
        self.client = client
        self.options = options
        self.output = output
    }

    private var now: Duration { options.virtualClock ? virtualNow : ContinuousClock.now - started }

    /// Sends a message from an ingress.
    package func ingest(_ message: AnyMessage, to target: Address) {
        summary.messages += 1
        route(Delivery(target: target, caller: nil, message: message))
    }

    /// How much is happening now, for a progress line.
    package var progress: String {
        "\(summary.messages) messages, \(summary.batches) batches, \(scheduler.inFlightCount) in flight, "
            + "\(scheduler.queuedCount) queued, \(delayed.pending.count) delayed, \(summary.retries) retries"
    }

    /// Waits until every message, delayed ones included, has been delivered.
    ///
    /// - Throws: the first failure, which fails the job as it would in the runtime.
    package func finish() async throws -> Summary {
        while true {
            await idle()
            if let failure { throw failure }
            let horizon: Duration = options.virtualClock ? .seconds(Int64.max / 2) : now
            if let next = delayed.popDue(atOrBefore: horizon) {
                if options.virtualClock { virtualNow = max(virtualNow, next.due) }
                summary.delayedDeliveries += 1
                route(Delivery(target: next.target, caller: next.sender, message: next.message))
            } else if let next = delayed.pending.first {
                try await Task.sleep(for: next.due - now)
            } else {
                return summary
            }
        }
    }

    /// Each address's state as it is now, one JSON line per value:
    /// `{"address": …, "state": …, "type": …, "value"/"json"/"fields"/"base64": …}`.
    package func stateLines() -> [String] {
        store.values(now: now) { address, name in
            let specs = module.endpoint(for: address.functionType).map { endpoint, _ in
                endpoint.protocolVersion == .v2 ? endpoint.states : registeredSpecs[address.functionType] ?? []
            } ?? []
            return specs.first { $0.name == name }?.expiration ?? .none
        }.map { address, name, value in
            var line: [String: Any] = ["address": address.description, "state": name, "type": value.typeURL]
            JSONValues.describe(value, into: &line, schema: options.schema)
            return JSONValues.jsonLine(line)
        }
    }

    // MARK: Delivery

    private func route(_ delivery: Delivery) {
        guard failure == nil else { return }
        if let problem = providerProblem(delivery.target) {
            fail(LocalRuntimeError.jobFailed(problem))
            return
        }
        scheduler.enqueue(delivery, to: delivery.target)
        dispatch(delivery.target)
    }

    private func dispatch(_ address: Address) {
        guard failure == nil, let (endpoint, url) = module.endpoint(for: address.functionType),
              let batch = scheduler.take(address, maxSize: endpoint.maxBatchSize)
        else { return }

        let version = endpoint.protocolVersion
        let specs = version == .v2 ? endpoint.states : registeredSpecs[address.functionType] ?? []
        let request = BatchRequest(
            target: address, states: store.batchStates(for: address, specs: specs, now: now, typed: version == .v3),
            invocations: batch.map { ($0.caller, $0.message) })
        let body = RuntimeCodec.encode(request, protocol: version)
        let sent = Set(specs.map(\.name))
        let client = client
        let options = options
        Task {
            let result: Result<(BatchReply, Duration, Int), any Error>
            do {
                result = .success(try await Self.call(body, url, version, client, options))
            } catch {
                result = .failure(error)
            }
            self.completed(address, batch, sent: sent, result)
        }
    }

    private func completed(
        _ address: Address, _ batch: [Delivery], sent: Set<String>, _ result: Result<(BatchReply, Duration, Int), any Error>
    ) {
        scheduler.complete(address)
        switch result {
        case let .success((reply, latency, retries)):
            summary.requests += 1
            summary.retries += retries
            summary.latencies.append(latency)
            switch reply {
            case let .incomplete(specs):
                // Register what the function asked for and send the same batch again.
                // (Another address of the type may have registered them meanwhile.)
                guard specs.contains(where: { !sent.contains($0.name) }) else {
                    // Asking for states the request carried would loop forever.
                    failure = failure ?? LocalRuntimeError.jobFailed(
                        "\(address) asks for states the request carried: \(specs.map(\.name).joined(separator: ", "))")
                    break
                }
                var known = registeredSpecs[address.functionType] ?? []
                known += specs.filter { spec in !known.contains { $0.name == spec.name } }
                registeredSpecs[address.functionType] = known
                scheduler.putBack(batch, to: address)
            case let .completed(effects):
                if let problem = refusal(of: effects, from: address) {
                    fail(LocalRuntimeError.jobFailed(problem))
                    break
                }
                summary.batches += 1
                store.apply(effects.mutations, to: address, now: now)
                for message in effects.outgoing {
                    summary.messages += 1
                    route(Delivery(target: message.target, caller: address, message: message.message))
                }
                // Checked above: a token pending twice has failed the job already.
                try? delayed.apply(effects.delayed, from: address, now: now)
                for message in effects.egress {
                    summary.egressRecords += 1
                    output(JSONValues.egressLine(message, schema: options.schema))
                }
            }
        case let .failure(error):
            // A job failure keeps its own text; anything else is said to fail the job here.
            if case .jobFailed(let text) = error as? LocalRuntimeError {
                fail(LocalRuntimeError.jobFailed("\(address): \(text)"))
            } else {
                fail(LocalRuntimeError.jobFailed("\(address): \(error)"))
            }
        }
        dispatch(address)
        if isIdle {
            let waiters = idleWaiters
            idleWaiters = []
            for waiter in waiters { waiter.resume() }
        }
    }

    private func fail(_ error: LocalRuntimeError) {
        failure = failure ?? error
    }

    /// Why the runtime would find no function for `target`, if it would not.
    private func providerProblem(_ target: Address) -> String? {
        guard module.endpoint(for: target.functionType) == nil else { return nil }
        return "Cannot find a provider for the function type \(target.functionType) (message to \(target)):"
            + " no endpoint of module.yaml serves it"
    }

    /// What in a batch's effects the runtime would fail the job on, if anything.
    private func refusal(of effects: BatchEffects, from address: Address) -> String? {
        for message in effects.egress {
            if let problem = module.egressProblem(message.egress.description, typeName: message.message.typeURL) {
                return "\(address) sent to an egress the runtime refuses: \(problem)"
            }
        }
        do {
            try delayed.check(effects.delayed, from: address)
        } catch {
            return "\(error)"
        }
        for case let .message(_, message, _) in effects.delayed {
            if let problem = providerProblem(message.target) { return problem }
        }
        return nil
    }

    /// Nothing in flight, and nothing waits that will be sent.
    private var isIdle: Bool { scheduler.inFlightCount == 0 && (!scheduler.hasQueued || failure != nil) }

    private func idle() async {
        if isIdle { return }
        await withCheckedContinuation { idleWaiters.append($0) }
    }
}
