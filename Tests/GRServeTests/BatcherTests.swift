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

    func testConcurrentRequestsShareEngineCalls() async throws {
        let engine = StubEngine(gated: true)
        try await withServer(engine) { client, server in
            try await withThrowingTaskGroup(of: RecommendAnswer.self) { group in
                // One request holds the worker inside the engine; 20 more queue behind it.
                group.addTask { try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#).decode(RecommendAnswer.self) }
                XCTAssertTrue(engine.waitUntilEntered(1))
                for i in 0..<20 {
                    group.addTask {
                        try await client.post("/v1/recommend", #"{"history": [\#(i + 1)], "k": 2}"#).decode(RecommendAnswer.self)
                    }
                }
                try await self.waitForDepth(server, 20)
                engine.open()
                var answers = 0
                for try await a in group {
                    XCTAssertFalse(a.items.isEmpty)
                    answers += 1
                }
                XCTAssertEqual(answers, 21)
            }
            // 21 requests, 2 engine calls: the one held, then the 20 queued together.
            XCTAssertEqual(engine.batchSizes, [1, 20])
            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(metrics.contains("gr_serve_engine_calls_total 2\n"), metrics)
            XCTAssertTrue(metrics.contains("gr_serve_batch_size_count 2\n"), metrics)
            XCTAssertTrue(metrics.contains("gr_serve_batch_size_sum 21\n"), metrics)
        }
    }

    func testMaxBatchBoundsEachEngineCall() async throws {
        let engine = StubEngine(gated: true)
        var limits = ServeLimits()
        limits.maxBatch = 4
        try await withServer(engine, limits: limits) { client, server in
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await client.post("/v1/score", #"{"history": [1], "candidates": [2]}"#).status.code }
                XCTAssertTrue(engine.waitUntilEntered(1))
                for _ in 0..<10 {
                    group.addTask { try await client.post("/v1/score", #"{"history": [1], "candidates": [2]}"#).status.code }
                }
                try await self.waitForDepth(server, 10)
                engine.open()
                for try await code in group { XCTAssertEqual(code, 200) }
            }
            XCTAssertEqual(engine.batchSizes, [1, 4, 4, 2])
        }
    }

    func testFullQueueAnswers503AndRecovers() async throws {
        let engine = StubEngine(gated: true)
        var limits = ServeLimits()
        limits.queueCapacity = 3
        try await withServer(engine, limits: limits) { client, server in
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#).status.code }
                XCTAssertTrue(engine.waitUntilEntered(1))
                for _ in 0..<3 {
                    group.addTask { try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#).status.code }
                }
                try await self.waitForDepth(server, 3)
                // In flight 1, queued 3 = capacity: the next one is refused at once.
                let refused = try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#)
                XCTAssertEqual(refused.status, .serviceUnavailable)
                XCTAssertNotNil(refused.apiError?.error)
                XCTAssertNil(refused.apiError?.field)
                engine.open()
                for try await code in group { XCTAssertEqual(code, 200) }
            }
            let ok = try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#)
            XCTAssertEqual(ok.status, .ok)
            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(metrics.contains("gr_serve_queue_rejections_total 1\n"), metrics)
            XCTAssertTrue(metrics.contains(#"gr_serve_requests_total{route="/v1/recommend",status="503"} 1"#), metrics)
        }
    }

    func testAnEngineRejectionFailsOnlyTheOffendingRequest() async throws {
        let engine = StubEngine(gated: true)
        try await withServer(engine) { client, server in
            try await withThrowingTaskGroup(of: (Int32, Int).self) { group in
                group.addTask { (0, try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#).status.code) }
                XCTAssertTrue(engine.waitUntilEntered(1))
                for id: Int32 in [5, StubEngine.rejectedByRecommend, 7] {
                    group.addTask { (id, try await client.post("/v1/recommend", #"{"history": [\#(id)], "k": 1}"#).status.code) }
                }
                try await self.waitForDepth(server, 3)
                engine.open()
                for try await (id, code) in group {
                    XCTAssertEqual(code, id == StubEngine.rejectedByRecommend ? 400 : 200, "item \(id)")
                }
            }
            // The batch of 3 failed, then each query ran alone.
            XCTAssertEqual(engine.batchSizes, [1, 3, 1, 1, 1])
        }
    }

    func testRecommendAndScoreAreBatchedSeparately() async throws {
        let engine = StubEngine(gated: true)
        try await withServer(engine) { client, server in
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#).status.code }
                XCTAssertTrue(engine.waitUntilEntered(1))
                for i in 0..<6 {
                    group.addTask {
                        i % 2 == 0
                            ? try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#).status.code
                            : try await client.post("/v1/score", #"{"history": [1], "candidates": [4, 5]}"#).status.code
                    }
                }
                try await self.waitForDepth(server, 6)
                engine.open()
                for try await code in group { XCTAssertEqual(code, 200) }
            }
            XCTAssertEqual(engine.batchSizes, [1, 3, 3])
        }
    }

    func testShutdownAnswersEverythingQueuedThenRefuses() async throws {
        let engine = StubEngine(gated: true)
        let slot = EngineSlot(engine: engine, source: "stub-a", loader: StubLoader.load)
        let batcher = DynamicBatcher(slot: slot, limits: ServeLimits())
        batcher.start()
        try await withThrowingTaskGroup(of: Int.self) { group in
            // One request held in the engine, four queued behind it.
            group.addTask { try await batcher.recommend(RecommendQuery(history: [1], k: 1)).value.items.count }
            XCTAssertTrue(engine.waitUntilEntered(1))
            for k in 2...5 {
                group.addTask { try await batcher.recommend(RecommendQuery(history: [1], k: k)).value.items.count }
            }
            for _ in 0..<2000 where batcher.depth < 4 { try await Task.sleep(nanoseconds: 5_000_000) }
            XCTAssertEqual(batcher.depth, 4)
            // Shutdown waits for the queue: open the gate a moment after it started.
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { engine.open() }
            await Task.detached { batcher.shutdown() }.value
            var counts: [Int] = []
            for try await n in group { counts.append(n) }
            XCTAssertEqual(counts.sorted(), [1, 2, 3, 4, 5])
        }
        do {
            _ = try await batcher.recommend(RecommendQuery(history: [1], k: 1))
            XCTFail("accepted work after shutdown")
        } catch let e as APIError {
            XCTAssertEqual(e.status, .serviceUnavailable)
        }
    }
}
