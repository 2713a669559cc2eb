// README blocks of declarations, compiled here and exercised by ReadmeBlockTests.

// readme-block-begin
import StatefulFunctions

enum Reminders {
    static let pending = TypedValueSpec("pending", Int32.self, expiration: .afterWrite(.seconds(86_400)))

    static func bind(in functions: StatefulFunctions) throws {
        try functions.bind("example/reminders", String.self, states: [pending]) { context, command in
            let user = context.address.id
            let token = "reminder-\(user)"
            switch command {
            case "remind":
                let reminder = try OutgoingMessage("example/user", id: user, value: "don't forget")
                try context.sendAfter(.seconds(3600), reminder, cancellationToken: token)
                context[pending] = (context[pending] ?? 0) + 1
            case "done":
                try context.cancelDelayedMessage(token)
                try context.deleteState(pending)
            default:
                if let caller = context.caller {
                    context.send(try OutgoingMessage(to: caller, value: "unknown command \(command)"))
                }
            }
            context.sendEgress(try EgressMessage("example/log", value: "\(user): \(command)"))
        }
    }
}
// readme-block-end

// readme-block-begin
import StatefulFunctions

struct Basket: JSONMessage {
    static let typeName = "com.example/Basket"
    var items: [String] = []
}

enum Cart {
    static let basket = TypedValueSpec("basket", Basket.self, expiration: .afterInvoke(.seconds(3600)))
    static let visits = TypedValueSpec("visits", Int32.self)

    static func bind(in functions: StatefulFunctions) throws {
        try functions.bind("com.example/cart", String.self, states: [basket, visits]) { context, item in
            context[visits] = (context[visits] ?? 0) + 1   // Int32?, nil when unset
            if item == "checkout" {
                context[basket] = nil                      // deleted
            } else {
                var current = context[basket] ?? Basket()
                current.items.append(item)
                context[basket] = current
            }
        }
    }
}
// readme-block-end

// readme-block-begin
import Foundation
import StatefulFunctions

struct Order: JSONMessage {
    static let typeName = "com.example/Order"
    var id: String
    var placed: Date   // {"id":"o-1","placed":"2023-11-14T22:13:20.250Z"}
}

struct LegacyOrder: JSONMessage {
    static let typeName = "com.example/LegacyOrder"
    var placed: Date
    var placedBy: String   // {"placed":1700000000.25,"placed_by":"ann"}

    static func makeJSONEncoder() -> JSONEncoder {
        let encoder = JSONMessageCoding.encoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .secondsSince1970
        return encoder
    }

    static func makeJSONDecoder() -> JSONDecoder {
        let decoder = JSONMessageCoding.decoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }
}
// readme-block-end

// readme-block-begin
import StatefulFunctions

enum Stock {
    static func bind(in functions: StatefulFunctions) throws {
        try functions.bind("example/stock", String.self) { context, item in
            let user = context.address.id                      // read what the children need first
            let effects = try await withThrowingTaskGroup(of: ContextEffects.self) { group in
                for warehouse in ["north", "south"] {
                    group.addTask {                            // no context in here
                        let count = try await Stock.count(item, in: warehouse)
                        var effects = ContextEffects()
                        effects.send(try OutgoingMessage("example/warehouse", id: warehouse, value: "\(user): \(item) x\(count)"))
                        return effects
                    }
                }
                return try await group.reduce(into: ContextEffects()) { $0.append($1) }
            }
            try context.apply(effects)                         // delivered if the batch completes
        }
    }

    /// Stands for a call to the warehouse's own service.
    static func count(_ item: String, in warehouse: String) async throws -> Int {
        try await Task.sleep(for: .milliseconds(1))            // throws once the request is cancelled
        return item.count
    }
}
// readme-block-end
