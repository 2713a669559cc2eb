import StatefulFunctions
import StatefunRuntime
import Testing

@Suite struct BatchSchedulerTests {
    let ann = Address(namespace: "example", type: "greeter", id: "ann")
    let bob = Address(namespace: "example", type: "greeter", id: "bob")
    let cid = Address(namespace: "example", type: "greeter", id: "cid")

    @Test func messagesToOneAddressGoOutInOrderInBatchesOfAtMostMaxSize() {
        var scheduler = BatchScheduler<Int>()
        for i in 1...5 { scheduler.enqueue(i, to: ann) }
        #expect(scheduler.queuedCount == 5)
        let first = scheduler.next(maxSize: 2)
        #expect(first?.address == ann && first?.batch == [1, 2])
        // One batch in flight per address: the rest waits for it.
        #expect(scheduler.next(maxSize: 2) == nil)
        #expect(scheduler.take(ann, maxSize: 2) == nil)
        #expect(scheduler.inFlightCount == 1)
        scheduler.complete(ann)
        #expect(scheduler.next(maxSize: 2)?.batch == [3, 4])
        scheduler.complete(ann)
        #expect(scheduler.next(maxSize: 2)?.batch == [5])
        scheduler.complete(ann)
        #expect(scheduler.next(maxSize: 2) == nil)
        #expect(!scheduler.hasQueued && scheduler.inFlightCount == 0)
    }

    @Test func addressesTakeTurnsInTheOrderTheirWaitingBegan() {
        var scheduler = BatchScheduler<String>()
        scheduler.enqueue("a1", to: ann)
        scheduler.enqueue("b1", to: bob)
        scheduler.enqueue("a2", to: ann)
        let first = scheduler.next(maxSize: 1)
        #expect(first?.address == ann && first?.batch == ["a1"])
        // Ann's rest takes its turn when its batch completes, behind Bob and Cid.
        scheduler.enqueue("c1", to: cid)
        scheduler.complete(ann)
        var order: [String] = []
        while let (address, batch) = scheduler.next(maxSize: 1) {
            order += batch
            scheduler.complete(address)
        }
        #expect(order == ["b1", "c1", "a2"])
    }

    @Test func aMessageToAnIdleAddressDuringAFlightTakesItsTurnAtOnce() {
        // Ann's batch took all it had: a message to Ann during the flight takes its
        // turn when it arrives, ahead of one to Bob sent after it.
        var scheduler = BatchScheduler<String>()
        scheduler.enqueue("a1", to: ann)
        _ = scheduler.next(maxSize: 10)
        scheduler.enqueue("a2", to: ann)
        scheduler.enqueue("b1", to: bob)
        scheduler.complete(ann)
        #expect(scheduler.next(maxSize: 10)?.address == ann)
    }

    @Test func aBatchPutBackGoesFirstAndWholeAheadOfWhatArrivedMeanwhile() {
        var scheduler = BatchScheduler<Int>()
        scheduler.enqueue(1, to: bob)
        scheduler.enqueue(10, to: ann)
        scheduler.enqueue(11, to: ann)
        _ = scheduler.take(ann, maxSize: 10)
        scheduler.enqueue(12, to: ann)
        scheduler.putBack([10, 11], to: ann)
        let next = scheduler.next(maxSize: 10)
        #expect(next?.address == ann && next?.batch == [10, 11, 12])
    }

    @Test func putBackAfterCompleteEndsTheFlightOnce() {
        var scheduler = BatchScheduler<Int>()
        scheduler.enqueue(1, to: ann)
        scheduler.enqueue(2, to: ann)
        #expect(scheduler.take(ann, maxSize: 1) == [1])
        scheduler.complete(ann)
        scheduler.putBack([1], to: ann)
        #expect(scheduler.inFlightCount == 0)
        #expect(scheduler.take(ann, maxSize: 5) == [1, 2])
        #expect(scheduler.next(maxSize: 5) == nil)
    }

    @Test func aMaxSizeBelowOneStillSendsOneMessage() {
        var scheduler = BatchScheduler<Int>()
        scheduler.enqueue(1, to: ann)
        #expect(scheduler.take(ann, maxSize: 0) == [1])
    }

    @Test func takingAnAddressWithNothingQueuedGivesNothing() {
        var scheduler = BatchScheduler<Int>()
        #expect(scheduler.take(ann, maxSize: 1) == nil)
        #expect(scheduler.inFlightCount == 0)
    }
}
