import Foundation
@testable import GRServe
import HummingbirdTesting
import XCTest

/// Swapping the model under load: the running batch finishes on the old engine, later requests use
/// the new one, a failed load changes nothing.
final class ReloadTests: XCTestCase {
    func testReloadSwapsTheModelWhileABatchRunsOnTheOldOne() async throws {
        let old = StubEngine(gated: true)
        try await withServer(old) { client, server in
            let inFlight = Task { try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#) }
            XCTAssertTrue(old.waitUntilEntered(1))
            let r = try await client.post("/admin/reload", #"{"checkpoint": "stub-b"}"#)
            XCTAssertEqual(r.status, .ok, r.text)
            XCTAssertEqual(try r.decode(ReloadAnswer.self),
                           ReloadAnswer(previous: "stub-a@000000000000", model: "stub-b@111111111111"))
            // A request arriving now waits for the worker, which the old engine still holds; the
            // held batch then finishes on the old engine and the next batch runs on the new one.
            let fresh = Task { try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#) }
            for _ in 0..<2000 where server.batcher.depth < 1 { try await Task.sleep(nanoseconds: 5_000_000) }
            XCTAssertEqual(server.batcher.depth, 1)
            old.open()
            let held = try await inFlight.value
            XCTAssertEqual(held.status, .ok)
            XCTAssertEqual(try held.decode(RecommendAnswer.self).model, "stub-a@000000000000")
            let answered = try await fresh.value
            XCTAssertEqual(try answered.decode(RecommendAnswer.self).model, "stub-b@111111111111")
            XCTAssertEqual(old.batchSizes, [1], "the old engine answered only the batch it held")
            XCTAssertEqual(server.slot.checkpoint, "stub-b")
            let health = try await client.get("/healthz").decode(HealthAnswer.self)
            XCTAssertEqual(health.model, "stub-b@111111111111")
            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(metrics.contains(#"gr_serve_reloads_total{result="ok"} 1"#), metrics)
            XCTAssertTrue(metrics.contains(#"gr_serve_model_info{model="stub-b@111111111111"} 1"#), metrics)
        }
    }

    func testAFailedReloadKeepsTheOldModel() async throws {
        try await withServer { client, server in
            let r = try await client.post("/admin/reload", #"{"checkpoint": "/missing.safetensors"}"#)
            XCTAssertEqual(r.status, .badRequest)
            XCTAssertEqual(r.apiError?.field, "checkpoint")
            XCTAssertTrue(r.apiError?.error.contains("/missing.safetensors") ?? false, r.text)
            XCTAssertEqual(server.slot.current.modelID, "stub-a@000000000000")
            XCTAssertEqual(server.slot.checkpoint, "stub-a")
            let ok = try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#)
            XCTAssertEqual(try ok.decode(RecommendAnswer.self).model, "stub-a@000000000000")
            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(metrics.contains(#"gr_serve_reloads_total{result="error"} 1"#), metrics)
        }
    }

    /// SIGHUP's path: reload the checkpoint the slot was loaded from (its file may have changed).
    func testReloadingTheCurrentCheckpoint() async throws {
        let counter = LoadCounter()
        try await withServer(loader: { path in
            StubEngine(modelID: "\(path)@v\(counter.next())")
        }) { client, server in
            await server.reloadCurrent()
            XCTAssertEqual(server.slot.current.modelID, "stub-a@v1")
            await server.reloadCurrent()
            let a = try await client.post("/v1/recommend", #"{"history": [1], "k": 1}"#).decode(RecommendAnswer.self)
            XCTAssertEqual(a.model, "stub-a@v2")
        }
    }

    final class LoadCounter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func next() -> Int { lock.withLock { n += 1; return n } }
    }
}
