import StatefulFunctions
import StatefunRuntime
import Testing

@Suite struct StateStoreTests {
    let ann = Address(namespace: "example", type: "greeter", id: "ann")
    let bob = Address(namespace: "example", type: "greeter", id: "bob")

    func message(_ text: String) throws -> AnyMessage { try AnyMessage(packing: text) }

    @Test func aBatchCarriesOneStatePerSpecAndSeesWhatThePreviousOneWrote() throws {
        var store = StateStore()
        let specs = [ValueSpec(name: "seen", typeName: "io.statefun.types/int"), ValueSpec(name: "name", typeName: "t/n")]
        let empty = store.batchStates(for: ann, specs: specs, now: .zero, typed: true)
        #expect(empty.map(\.name) == ["seen", "name"])
        #expect(empty.allSatisfy { $0.value == nil })
        #expect(empty.map(\.typeName) == ["io.statefun.types/int", "t/n"])
        store.apply([("name", try message("Ann"))], to: ann, now: .zero)
        let next = store.batchStates(for: ann, specs: specs, now: .seconds(1), typed: false)
        #expect(next.map(\.value) == [nil, try message("Ann")])
        #expect(next.allSatisfy { $0.typeName == nil })
        // Another address has its own states.
        #expect(store.batchStates(for: bob, specs: specs, now: .seconds(1), typed: true).allSatisfy { $0.value == nil })
    }

    @Test func aDeletionRemovesTheValue() throws {
        var store = StateStore()
        store.apply([("name", try message("Ann"))], to: ann, now: .zero)
        store.apply([("name", nil)], to: ann, now: .seconds(1))
        #expect(store.value(of: ann, "name", expiration: .none, now: .seconds(1)) == nil)
        #expect(store.values(now: .seconds(1)) { _, _ in .none }.isEmpty)
    }

    @Test func expirationAfterWriteCountsFromTheLastWrite() throws {
        var store = StateStore()
        let spec = ValueSpec(name: "name", typeName: "t/n", expiration: .afterWrite(.seconds(10)))
        store.apply([("name", try message("Ann"))], to: ann, now: .zero)
        store.apply([], to: ann, now: .seconds(5))   // read, not written
        #expect(store.value(of: ann, "name", expiration: spec.expiration, now: .seconds(9)) != nil)
        #expect(store.value(of: ann, "name", expiration: spec.expiration, now: .seconds(10)) == nil)
        #expect(store.batchStates(for: ann, specs: [spec], now: .seconds(10), typed: true).first?.value == nil)
    }

    @Test func expirationAfterInvokeCountsFromTheLastBatch() throws {
        var store = StateStore()
        let spec = ValueSpec(name: "name", typeName: "t/n", expiration: .afterInvoke(.seconds(10)))
        store.apply([("name", try message("Ann"))], to: ann, now: .zero)
        store.apply([], to: ann, now: .seconds(8))
        #expect(store.value(of: ann, "name", expiration: spec.expiration, now: .seconds(17)) != nil)
        #expect(store.value(of: ann, "name", expiration: spec.expiration, now: .seconds(18)) == nil)
    }

    @Test func valuesListsTheLiveOnesByAddressThenName() throws {
        var store = StateStore()
        store.apply([("b", try message("2")), ("a", try message("1"))], to: bob, now: .zero)
        store.apply([("z", try message("3"))], to: ann, now: .zero)
        let all = store.values(now: .seconds(1)) { _, name in name == "b" ? .afterWrite(.seconds(1)) : .none }
        #expect(all.map { "\($0.address.id)/\($0.name)" } == ["ann/z", "bob/a"])
    }
}
