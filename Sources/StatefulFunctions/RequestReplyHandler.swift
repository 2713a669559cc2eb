public import CoreMetrics
public import Logging

/// What the handler answers to one request: an HTTP status, a content type and a body.
public struct RequestReplyResponse: Sendable, Equatable {
    /// 200 on success; 400, 404 or 500 on failure (see ``RequestReplyHandler``).
    public var status: Int
    /// `application/octet-stream` on success, `text/plain; charset=utf-8` for errors.
    public var contentType: String
    /// The serialized `FromFunction`, or the error text.
    public var body: [UInt8]

    /// The content type of a successful reply, exactly as the runtime demands it.
    public static let protobufContentType = "application/octet-stream"

    static func failure(_ status: Int, _ message: String) -> RequestReplyResponse {
        RequestReplyResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(message.utf8))
    }
}

/// A request the handler could not serve, thrown by ``RequestReplyHandler/callAsFunction(_:)``.
public struct RequestReplyError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status to answer with: 400, 404 or 500.
    public var status: Int
    /// What went wrong, naming the function, the address and the cause.
    public var message: String

    public var description: String { "\(status): \(message)" }
}

/// Serves a ``StatefulFunctions`` registry over the StateFun remote protocol:
/// bytes of a `ToFunction` in, bytes of a `FromFunction` out.
///
/// It knows nothing of sockets, so any HTTP server can mount it: pass the
/// request body to ``handle(_:)`` and answer with the status, content type and
/// body it returns. The invocations of a batch run in order, each seeing the
/// state the previous one left; the reply carries the changed states and every
/// message sent, in order. A batch is all or nothing: if one invocation fails,
/// nothing of the batch is reported.
///
/// Statuses: 200 for a completed batch; 400 for a body that is not a valid
/// `ToFunction`; 404 for a function type nothing is bound to; 500 when a
/// function throws or gets a message type it does not accept (the runtime
/// retries 5xx).
///
/// One handler speaks one protocol version: ``ProtocolVersion/v3`` (the
/// default, StateFun 3.x) or ``ProtocolVersion/v2`` (`protocol: .v2`). Under 3.x,
/// a request that lacks any of the function's declared value specs is answered
/// with an `IncompleteInvocationContext` listing them, and the runtime re-sends
/// the batch. A request of the other protocol is a 400 that says which protocol
/// the handler speaks and how to switch.
///
/// Metrics (swift-metrics): `statefun_invocations_total{function_type}` counts
/// the invocations run, `statefun_batch_size{function_type}` records the
/// invocations per request, `statefun_failed_requests_total{status}` counts
/// the requests answered 400, 404 or 500.
public struct RequestReplyHandler: Sendable {
    private let functions: FunctionTable
    private let logger: Logger
    private let instruments: Instruments
    /// The protocol the handler speaks.
    public let protocolVersion: ProtocolVersion

    /// Creates a handler for the functions bound in `functions` now.
    ///
    /// - Parameters:
    ///   - functions: the registry; functions bound to it later are not served.
    ///   - protocolVersion: the StateFun protocol to speak: 3.x by default, `.v2` for a 2.x runtime.
    ///     Under 2.x, value specs are not used (module.yaml declares the states): a function
    ///     bound with some logs a warning here.
    ///   - logger: where failed requests are logged, one line each, with their cause.
    ///   - metricsFactory: where the instruments are created; the
    ///     process-wide `MetricsSystem` by default (no-op until bootstrapped).
    public init(
        _ functions: StatefulFunctions, protocol protocolVersion: ProtocolVersion = .v3,
        logger: Logger = Logger(label: "statefun.handler"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.functions = FunctionTable(functions.snapshot, metricsFactory: metricsFactory)
        self.isSynchronous = self.functions.entries.allSatisfy { $0.function.isSynchronous }
        self.protocolVersion = protocolVersion
        self.logger = logger
        self.instruments = Instruments(factory: metricsFactory)
        if let warning = functions.unusedValueSpecsWarning(protocol: protocolVersion) { logger.warning("\(warning)") }
    }

    /// Handles one request body and returns the response to send.
    public func handle(_ body: [UInt8]) async -> RequestReplyResponse {
        do {
            return RequestReplyResponse(
                status: 200, contentType: RequestReplyResponse.protobufContentType, body: try await measuredReply(to: body))
        } catch {
            return failureResponse(error)
        }
    }

    /// True when every bound function is synchronous (its closure never
    /// `await`s): then ``handleSynchronously(_:)`` answers any request.
    public let isSynchronous: Bool

    /// Handles one request body without suspending, as ``handle(_:)`` does:
    /// for a server that answers on the thread that read the request, with no
    /// task. `nil` unless ``isSynchronous``.
    public func handleSynchronously(_ body: [UInt8]) -> RequestReplyResponse? {
        guard isSynchronous else { return nil }
        do {
            return RequestReplyResponse(
                status: 200, contentType: RequestReplyResponse.protobufContentType, body: try replySynchronously(to: body))
        } catch {
            instruments.failed(status: error.status)
            return failureResponse(error)
        }
    }

    private func failureResponse(_ error: RequestReplyError) -> RequestReplyResponse {
        logger.error("request failed", metadata: ["status": "\(error.status)", "cause": "\(error.message)"])
        return .failure(error.status, error.message)
    }

    /// Handles one request body and returns the serialized `FromFunction`.
    ///
    /// - Throws: ``RequestReplyError`` with the status to answer and the cause.
    public func callAsFunction(_ body: [UInt8]) async throws -> [UInt8] {
        try await measuredReply(to: body)
    }

    private func measuredReply(to body: [UInt8]) async throws(RequestReplyError) -> [UInt8] {
        do {
            return try await reply(to: body)
        } catch {
            instruments.failed(status: error.status)
            throw error
        }
    }

    /// A request decoded and ready to run, or already answered.
    private enum Prepared {
        /// Answered without running the function (a 3.x incomplete context).
        case answered([UInt8])
        case run(FunctionTable.Entry, InvocationBatch, Context)
    }

    /// Where the handler looks at its protocol (here and in
    /// ``replySynchronously(to:)``): the rest is generic over its wire schema.
    private func reply(to body: [UInt8]) async throws(RequestReplyError) -> [UInt8] {
        switch protocolVersion {
        case .v2: return try await reply(to: body, SchemaV2.self)
        case .v3: return try await reply(to: body, SchemaV3.self)
        }
    }

    /// ``reply(to:)`` for handlers whose functions are all synchronous.
    private func replySynchronously(to body: [UInt8]) throws(RequestReplyError) -> [UInt8] {
        switch protocolVersion {
        case .v2: return try replySynchronously(to: body, SchemaV2.self)
        case .v3: return try replySynchronously(to: body, SchemaV3.self)
        }
    }

    private func reply<Schema: WireSchema>(to body: [UInt8], _: Schema.Type) async throws(RequestReplyError) -> [UInt8] {
        switch try prepare(body, Schema.self) {
        case .answered(let reply):
            return reply
        case .run(let entry, let batch, let context):
            // The invocations' message bytes live in the batch's arena.
            defer { extendLifetime(batch) }
            // The same batch loop as the in-process test runtime (StatefulFunction.run).
            do {
                try await entry.function.run(batch.invocations, in: context)
            } catch {
                throw failed(error, entry, batch)
            }
            return completed(entry, batch, context, Schema.self)
        }
    }

    private func replySynchronously<Schema: WireSchema>(to body: [UInt8], _: Schema.Type) throws(RequestReplyError) -> [UInt8] {
        switch try prepare(body, Schema.self) {
        case .answered(let reply):
            return reply
        case .run(let entry, let batch, let context):
            defer { extendLifetime(batch) }
            do {
                try entry.function.runSynchronously(batch.invocations, in: context)
            } catch {
                throw failed(error, entry, batch)
            }
            return completed(entry, batch, context, Schema.self)
        }
    }

    /// Decodes the request, finds its function and builds the context of the batch.
    private func prepare<Schema: WireSchema>(_ body: [UInt8], _: Schema.Type) throws(RequestReplyError) -> Prepared {
        var batch: InvocationBatch
        do {
            batch = try RequestDecoder<Schema>.decode(body, functions: functions)
        } catch {
            throw RequestReplyError(status: 400, message: "bad request: \(error)")
        }
        guard let entryIndex = batch.entry else {
            throw RequestReplyError(
                status: 404,
                message: "no function is bound to \(batch.target.typename) (address \(batch.target))")
        }
        let entry = functions.entries[entryIndex]
        let function = entry.function
        // The context takes the decoded states over: an array still shared with
        // the batch would be copied, every value retained, when a state is stored.
        var sent: [StateValue] = []
        swap(&sent, &batch.states)
        let states: [StateValue]
        if Schema.hasValueSpecs {
            let missing = function.valueSpecs.filter { spec in !sent.contains { $0.name == spec.name } }
            if !missing.isEmpty, let reply = Schema.incompleteContextReply(missing: missing) { return .answered(reply) }
            // The official SDKs check a state's type when it is read: a batch of
            // no invocations reads none, and is answered with no effects.
            states = batch.invocations.isEmpty ? [] : try declaredStates(function.valueSpecs, from: consume sent, of: batch.target)
            // The 3.x SDKs refuse a message to an address without id ("target_id can not be missing").
            if batch.target.id.isEmpty && !batch.invocations.isEmpty {
                throw RequestReplyError(status: 400, message: "bad request: the target address \(batch.target) has no id")
            }
        } else {
            states = sent
        }
        let context = Context(address: batch.target, states: states, protocolVersion: Schema.version)
        entry.batchSizes.record(batch.invocations.count)
        return .run(entry, consume batch, context)
    }

    private func failed(_ error: InvocationFailure, _ entry: FunctionTable.Entry, _ batch: InvocationBatch) -> RequestReplyError {
        entry.invocations.increment(by: error.index + 1)
        // The request's task was cancelled (the client went away, or the server's
        // request timeout) and the function stopped for it: nothing of the batch
        // is answered, and the runtime may try again.
        if error.cause is CancellationError {
            return RequestReplyError(
                status: 503,
                message: "request cancelled (the client went away or the request timed out): function "
                    + "\(batch.target.typename) at address \(batch.target) stopped on invocation \(error.index + 1) of "
                    + "\(batch.invocations.count)")
        }
        // Bytes that can never decode (a built-in string that is not UTF-8, a
        // truncated message) are the request's fault, as the official SDKs
        // refuse them: a 400, which the runtime does not retry forever.
        let malformed = if case .malformedMessage = error.cause as? StatefulFunctionsError { true } else { false }
        return RequestReplyError(
            status: malformed ? 400 : 500,
            message: (malformed ? "bad request: " : "") + "function \(batch.target.typename) at address \(batch.target) failed"
                + " on invocation \(error.index + 1) of \(batch.invocations.count)"
                + " (message type '\(batch.invocations[error.index].typeURL)'): \(error.cause)")
    }

    private func completed<Schema: WireSchema>(
        _ entry: FunctionTable.Entry, _ batch: InvocationBatch, _ context: Context, _: Schema.Type
    ) -> [UInt8] {
        entry.invocations.increment(by: batch.invocations.count)
        // Built in the request's arena, which the batch keeps until the reply is packed.
        return ReplyEncoder<Schema>.encode(context, in: batch.arena)
    }

    /// The 3.x states the function declared, in declaration order, typed by their
    /// specs. States the function did not declare are ignored, as the runtime expects.
    /// `sent` (which the caller hands over) is reordered in place, so that no
    /// state is copied: each declared one is swapped to its place, the rest dropped.
    private func declaredStates(
        _ specs: [ValueSpec], from sent: consuming [StateValue], of target: Address
    ) throws(RequestReplyError) -> [StateValue] {
        var placed = 0
        for spec in specs {
            // Present: the missing ones were answered with an incomplete context.
            // (An index loop: a slice's `firstIndex` looks its type's metadata up at run time.)
            var index = placed
            while index < sent.count && sent[index].name != spec.name { index += 1 }
            guard index < sent.count else { continue }
            sent.swapAt(placed, index)
            if let value = sent[placed].value, value.typeURL != spec.typeName {
                throw RequestReplyError(
                    status: 400,
                    message: "bad request: state '\(spec.name)' of \(target) holds type '\(value.typeURL)'"
                        + " but is declared as '\(spec.typeName)'")
            }
            sent[placed].typeName = spec.typeName
            placed += 1
        }
        if placed < sent.count { sent.removeLast(sent.count - placed) }
        return sent
    }
}

/// The handler's failure counters, created once per handler (the
/// per-function instruments live in its ``FunctionTable``).
private struct Instruments: Sendable {
    private let failures: [Int: Counter]
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
        var failures: [Int: Counter] = [:]
        for status in [400, 404, 500, 503] {
            failures[status] = Counter(
                label: "statefun_failed_requests_total", dimensions: [("status", String(status))], factory: factory)
        }
        self.failures = failures
    }

    func failed(status: Int) {
        if let counter = failures[status] {
            counter.increment()
        } else {
            Counter(label: "statefun_failed_requests_total", dimensions: [("status", String(status))], factory: factory)
                .increment()
        }
    }
}
