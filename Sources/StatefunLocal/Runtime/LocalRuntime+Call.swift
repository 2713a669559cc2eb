import StatefulFunctions

extension LocalRuntime {
    /// One request, retried as the runtime retries it.
    static func call(
        _ body: [UInt8], _ url: EndpointURL, _ version: ProtocolVersion, _ client: HTTPClient, _ options: Options
    ) async throws -> (BatchReply, Duration, Int) {
        let clock = ContinuousClock()
        let start = clock.now
        var backoff = options.initialBackoff
        var retries = 0
        while true {
            let attempt = clock.now
            var cause: String
            do {
                let reply = try await client.post(body, to: url)
                switch reply.status {
                case 200..<300:
                    guard reply.contentType == "application/octet-stream", !reply.body.isEmpty else {
                        throw LocalRuntimeError.jobFailed(
                            "\(url) answered \(reply.status) with content type \(reply.contentType ?? "none")"
                                + " and \(reply.body.count) bytes; the runtime needs application/octet-stream and a body")
                    }
                    return (try RuntimeCodec.decode(reply.body, protocol: version), clock.now - attempt, retries)
                case 408, 409, 420, 429, 499, 500..<600:
                    cause = "\(url) answered \(reply.status): \(String(decoding: reply.body.prefix(300), as: UTF8.self))"
                default:
                    throw LocalRuntimeError.jobFailed(
                        "\(url) answered \(reply.status): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
                }
            } catch let error as LocalRuntimeError {
                guard case .connection(let text) = error else { throw error }
                cause = text
            }
            guard clock.now - start + backoff < options.callTimeout else {
                throw LocalRuntimeError.jobFailed("gave up after \(retries) retries: \(cause)")
            }
            try await options.backoffSleep(backoff)
            retries += 1
            backoff = min(backoff * 2, .seconds(1))
        }
    }
}
