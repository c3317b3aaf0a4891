import Foundation
import GRInference
@testable import GRServe
import HummingbirdTesting
import XCTest

/// The dynamic batcher: grouping, bounds, the full queue, failure isolation, drain.
final class BatcherTests: XCTestCase {
    /// Waits (polling) until `server`'s queue holds `n` requests.
    func waitForDepth(_ server: ServeServer, _ n: Int) async throws {
        for _ in 0..<2000 where server.batcher.depth < n { try await Task.sleep(nanoseconds: 5_000_000) }
        XCTAssertEqual(server.batcher.depth, n)
    }

    typealias Post = (uri: String, body: String)
    static let recommendOne: Post = ("/v1/recommend", #"{"history": [1], "k": 1}"#)
    static let scoreOne: Post = ("/v1/score", #"{"history": [1], "candidates": [4, 5]}"#)

    /// Sends `held` and waits until the (gated) engine holds it, sends `queued` and waits until all
    /// of them wait in the queue, runs `whileHeld`, then opens the gate; returns every response
    /// (`held` first, then `queued` in order).
    func holdThenQueue(_ client: any TestClientProtocol, _ server: ServeServer, _ engine: StubEngine, held: Post,
                       queued: [Post], whileHeld: () async throws -> Void = {}) async throws -> [TestResponse] {
        try await withThrowingTaskGroup(of: (Int, TestResponse).self) { group in
            group.addTask { (0, try await client.post(held.uri, held.body)) }
            XCTAssertTrue(engine.waitUntilEntered(1))
            for (i, p) in queued.enumerated() { group.addTask { (i + 1, try await client.post(p.uri, p.body)) } }
            try await waitForDepth(server, queued.count)
            try await whileHeld()
            engine.open()
            var responses: [(Int, TestResponse)] = []
            for try await r in group { responses.append(r) }
            return responses.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    func testConcurrentRequestsShareEngineCalls() async throws {
        let engine = StubEngine(gated: true)
        try await withServer(engine) { client, server in
            let queued = (1...20).map { i -> Post in ("/v1/recommend", #"{"history": [\#(i)], "k": 2}"#) }
            let responses = try await self.holdThenQueue(client, server, engine, held: Self.recommendOne, queued: queued)
            for (i, r) in responses.enumerated() {
                let a = try r.decode(RecommendAnswer.self)
                XCTAssertEqual(a.items.count, i == 0 ? 1 : 2)
            }
            // 21 requests, 2 engine calls: the one held, then the 20 queued together.
            XCTAssertEqual(engine.batchSizes, [1, 20])
            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(metrics.contains("gr_serve_engine_calls_total 2\n"), metrics)
            XCTAssertTrue(metrics.contains("gr_serve_batch_size_count 2\n"), metrics)
            XCTAssertTrue(metrics.contains("gr_serve_batch_size_sum 21\n"), metrics)
        }
    }

    /// The default has no batching timer: a request that finds the engine idle runs at once, alone.
    func testASingleRequestIsNotDelayed() async throws {
        XCTAssertEqual(ServeLimits().maxWait, 0)
        let engine = StubEngine()
        try await withServer(engine) { client, _ in
            let t0 = DispatchTime.now().uptimeNanoseconds
            let r = try await client.post(Self.recommendOne.uri, Self.recommendOne.body)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(engine.batchSizes, [1])
            // The extra-wait test below shows a wait of 1 s is visible at this bound.
            XCTAssertLessThan(seconds, 0.9)
        }
    }

    /// `maxWait` > 0 is an extra wait: the first request is held until a second one joins it (or
    /// the wait ends), and both go to the engine together.
    func testMaxWaitIsAnOptionalExtraWait() async throws {
        let engine = StubEngine()
        var limits = ServeLimits()
        limits.maxWait = 1.0
        limits.maxBatch = 2
        try await withServer(engine, limits: limits) { client, server in
            let t0 = DispatchTime.now().uptimeNanoseconds
            async let first = client.post(Self.recommendOne.uri, Self.recommendOne.body)
            try await self.waitForDepth(server, 1)
            let second = try await client.post(Self.recommendOne.uri, Self.recommendOne.body)
            let r = try await first
            XCTAssertEqual([r.status, second.status], [.ok, .ok])
            XCTAssertEqual(engine.batchSizes, [2])  // maxBatch reached: no need to wait the whole second
            // Alone, one request waits out the whole second.
            _ = try await client.post(Self.recommendOne.uri, Self.recommendOne.body)
            XCTAssertEqual(engine.batchSizes, [2, 1])
            XCTAssertGreaterThanOrEqual(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9, 1.0)
        }
    }

    func testMaxBatchBoundsEachEngineCall() async throws {
        let engine = StubEngine(gated: true)
        var limits = ServeLimits()
        limits.maxBatch = 4
        try await withServer(engine, limits: limits) { client, server in
            let responses = try await self.holdThenQueue(client, server, engine, held: Self.scoreOne,
                                                         queued: Array(repeating: Self.scoreOne, count: 10))
            XCTAssertEqual(responses.map(\.status.code), Array(repeating: 200, count: 11))
            XCTAssertEqual(engine.batchSizes, [1, 4, 4, 2])
        }
    }

    func testFullQueueAnswers503AndRecovers() async throws {
        let engine = StubEngine(gated: true)
        var limits = ServeLimits()
        limits.queueCapacity = 3
        try await withServer(engine, limits: limits) { client, server in
            let responses = try await self.holdThenQueue(client, server, engine, held: Self.recommendOne,
                                                         queued: Array(repeating: Self.recommendOne, count: 3)) {
                // In flight 1, queued 3 = capacity: the next one is refused at once.
                let refused = try await client.post(Self.recommendOne.uri, Self.recommendOne.body)
                XCTAssertEqual(refused.status, .serviceUnavailable)
                XCTAssertNotNil(refused.apiError?.error)
                XCTAssertNil(refused.apiError?.field)
            }
            XCTAssertEqual(responses.map(\.status.code), [200, 200, 200, 200])
            let ok = try await client.post(Self.recommendOne.uri, Self.recommendOne.body)
            XCTAssertEqual(ok.status, .ok)
            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(metrics.contains("gr_serve_queue_rejections_total 1\n"), metrics)
            XCTAssertTrue(metrics.contains(#"gr_serve_requests_total{route="/v1/recommend",status="503"} 1"#), metrics)
        }
    }

    func testAnEngineRejectionFailsOnlyTheOffendingRequest() async throws {
        let engine = StubEngine(gated: true)
        try await withServer(engine) { client, server in
            let ids: [Int32] = [5, StubEngine.rejectedByRecommend, 7]
            let queued = ids.map { id -> Post in ("/v1/recommend", #"{"history": [\#(id)], "k": 1}"#) }
            let responses = try await self.holdThenQueue(client, server, engine, held: Self.recommendOne, queued: queued)
            XCTAssertEqual(responses.map(\.status.code), [200, 200, 400, 200])
            // The batch of 3 failed, then each query ran alone.
            XCTAssertEqual(engine.batchSizes, [1, 3, 1, 1, 1])
        }
    }

    func testRecommendAndScoreAreBatchedSeparately() async throws {
        let engine = StubEngine(gated: true)
        try await withServer(engine) { client, server in
            let queued = (0..<6).map { $0 % 2 == 0 ? Self.recommendOne : Self.scoreOne }
            let responses = try await self.holdThenQueue(client, server, engine, held: Self.recommendOne, queued: queued)
            XCTAssertEqual(responses.map(\.status.code), Array(repeating: 200, count: 7))
            XCTAssertEqual(try responses[2].decode(ScoreAnswer.self).scores, [0.04, 0.05])
            XCTAssertEqual(engine.batchSizes, [1, 3, 3])
        }
    }

    /// Two workers (`engineWorkers`): with an engine that allows concurrent calls, two batches are
    /// inside it at once, each single-threaded (`Parallel.inline`), and what queued meanwhile forms
    /// the next batch; with one that does not, the second worker waits for the first.
    func testTwoWorkersRunTwoBatchesAtOnce() async throws {
        var limits = ServeLimits()
        limits.engineWorkers = 2
        for concurrent in [true, false] {
            let engine = StubEngine(gated: true, concurrent: concurrent)
            try await withServer(engine, limits: limits) { client, server in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    group.addTask { try await client.post(Self.recommendOne.uri, Self.recommendOne.body).status.code }
                    XCTAssertTrue(engine.waitUntilEntered(1))
                    group.addTask { try await client.post(Self.recommendOne.uri, Self.recommendOne.body).status.code }
                    // Concurrent: the second worker takes it at once. Serial: it holds it, outside the engine.
                    XCTAssertEqual(engine.waitUntilEntered(2, timeout: concurrent ? 10 : 0.2), concurrent)
                    for _ in 0..<2000 where server.batcher.batchesTaken < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
                    XCTAssertEqual(server.batcher.batchesTaken, 2)
                    for _ in 0..<3 { group.addTask { try await client.post(Self.recommendOne.uri, Self.recommendOne.body).status.code } }
                    try await self.waitForDepth(server, 3)
                    engine.open()
                    var codes: [Int] = []
                    for try await c in group { codes.append(c) }
                    XCTAssertEqual(codes, Array(repeating: 200, count: 5))
                }
                // The 3 queued: a 2-worker batcher's worker takes its share ⌈3 / 2⌉ = 2, then the last one.
                XCTAssertEqual(engine.batchSizes.sorted(), [1, 1, 1, 2], "concurrent \(concurrent)")
                XCTAssertEqual(engine.inlineCalls, 4, "every call of a 2-worker batcher runs single-threaded")
            }
        }
        limits.engineWorkers = 0
        XCTAssertThrowsError(try limits.validate())
    }

    /// The batch a worker takes: the whole queue (at most `maxBatch`) with one worker, its share
    /// ⌈queued / N⌉ with N workers.
    func testBatchSizeIsTheWorkersShareOfTheQueue() {
        var limits = ServeLimits()
        limits.maxBatch = 8
        for (workers, expected) in [(1, [1, 1, 2, 3, 8, 8]), (2, [1, 1, 1, 2, 5, 8]), (3, [1, 1, 1, 1, 4, 8])] {
            limits.engineWorkers = workers
            let batcher = DynamicBatcher(slot: EngineSlot(engine: StubEngine(gated: false, concurrent: true), source: "stub",
                                                          loader: StubLoader.load), limits: limits)
            XCTAssertEqual([0, 1, 2, 3, 10, 40].map { batcher.batchSize(queued: $0) }, expected, "\(workers) workers")
        }
    }

    /// Drain with one worker and with two: each worker holds a batch in the (gated) engine, the
    /// rest of five requests queue behind them; shutdown answers all five, returns once every
    /// worker has stopped, and refuses later work.
    func testShutdownAnswersEverythingQueuedThenRefuses() async throws {
        for workers in [1, 2] {
            var limits = ServeLimits()
            limits.engineWorkers = workers
            let engine = StubEngine(gated: true, concurrent: workers > 1)
            let batcher = DynamicBatcher(slot: EngineSlot(engine: engine, source: "stub-a", loader: StubLoader.load), limits: limits)
            batcher.start()
            try await withThrowingTaskGroup(of: Int.self) { group in
                for k in 1...5 {
                    group.addTask { try await batcher.recommend(RecommendQuery(history: [1], k: k)).value.items.count }
                    if k <= workers { XCTAssertTrue(engine.waitUntilEntered(k)) }
                }
                for _ in 0..<2000 where batcher.depth < 5 - workers { try await Task.sleep(nanoseconds: 5_000_000) }
                XCTAssertEqual(batcher.depth, 5 - workers)
                // Shutdown waits for the queue: open the gate a moment after it started.
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { engine.open() }
                await Task.detached { batcher.shutdown() }.value
                XCTAssertEqual(batcher.depth, 0)
                var counts: [Int] = []
                for try await n in group { counts.append(n) }
                XCTAssertEqual(counts.sorted(), [1, 2, 3, 4, 5], "\(workers) workers")
            }
            do {
                _ = try await batcher.recommend(RecommendQuery(history: [1], k: 1))
                XCTFail("accepted work after shutdown")
            } catch let e as APIError {
                XCTAssertEqual(e.status, .serviceUnavailable)
            }
        }
    }
}
