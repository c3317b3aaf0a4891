import Foundation
import GRCLI
import GRInference
@testable import GRServe
import HummingbirdTesting
import XCTest

/// The real engine behind the real server: a tiny HSTU trained by `gr train` on `gr data synth`
/// data, loaded by `Recommender.load`, served on a loopback socket.
final class EndToEndTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func gr(_ args: [String]) throws {
        var command = try GRCommand.parseAsRoot(args)
        try command.run()
    }

    func testTrainedCheckpointServedOverHTTP() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-serve-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data", run = dir + "/run"
        try gr(["data", "synth", "--users", "24", "--items", "60", "--events", "400", "--min-length", "5",
                "--max-length", "30", "--seed", "3", "--out", data])
        // One epoch of a shrunken HSTU (debug builds: a few seconds).
        let sets = ["item_dim=8", "ffn_hidden=8", "dqk=4", "dv=4", "heads=2", "blocks=1", "max_sequence_length=12",
                    "num_negatives=4", "batch_size=8", "eval_batch_size=16", "epochs=1"]
        try gr(["train", "--config", Self.repoRoot.appendingPathComponent("configs/ml-1m/hstu.yaml").path,
                "--data", data, "--out", run, "--threads", "1", "--quiet"] + sets.flatMap { ["--set", $0] })
        let checkpoint = run + "/latest.safetensors"
        let engine = try Recommender.load(checkpoint: checkpoint, dataDirectory: data)
        let load: @Sendable (String) throws -> any RecommendationEngine = {
            try Recommender.load(checkpoint: $0, dataDirectory: data)
        }

        // Histories longer than the model's 12 (the newest are kept) and shorter.
        var lists: [[Int32]] = []
        for u in 0..<8 {
            let n = 4 + u * 3
            lists.append((0..<n).map { (i: Int) -> Int32 in Int32(1 + (u * 7 + i * 5) % 60) })
        }
        let histories = lists
        let direct = try engine.recommend(histories.map { RecommendQuery(history: $0, k: 5) })
        let candidates: [Int32] = [3, 14, 15, 9, 26]
        let directScores = try engine.score([ScoreQuery(history: histories[2], candidates: candidates)])[0]

        try await withServer(engine, loader: load, setup: .ahc(.http)) { client, server in
            // Concurrent requests (batched together or not) get exactly the engine's own answers.
            try await withThrowingTaskGroup(of: (Int, RecommendAnswer).self) { group in
                for (i, h) in histories.enumerated() {
                    group.addTask { (i, try await client.post("/v1/recommend", json(["history": h.map { Int($0) }, "k": 5])).decode(RecommendAnswer.self)) }
                }
                for try await (i, a) in group {
                    XCTAssertEqual(a.items, direct[i].items, "history \(i)")
                    XCTAssertEqual(a.scores, direct[i].scores, "history \(i)")
                    XCTAssertEqual(a.model, engine.modelID)
                    XCTAssertNil(a.titles, "synthetic data has no titles")
                }
            }
            let s = try await client.post("/v1/score", json(["history": histories[2].map { Int($0) }, "candidates": candidates.map { Int($0) }]))
            XCTAssertEqual(try s.decode(ScoreAnswer.self).scores, directScores)

            let bad = try await client.post("/v1/recommend", json(["history": [1, engine.maxItemId + 1], "k": 5]))
            XCTAssertEqual(bad.status, .badRequest)
            XCTAssertEqual(bad.apiError?.field, "history[1]")
            let tooMany = try await client.post("/v1/recommend", json(["history": [1], "k": engine.corpusSize + 1]))
            XCTAssertEqual(tooMany.status, .badRequest)
            XCTAssertEqual(tooMany.apiError?.field, "k")

            let reload = try await client.post("/admin/reload", json(["checkpoint": checkpoint]))
            XCTAssertEqual(try reload.decode(ReloadAnswer.self), ReloadAnswer(previous: engine.modelID, model: engine.modelID))
            XCTAssertFalse(server.slot.current === engine, "a fresh engine was loaded")

            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(metrics.contains(#"gr_serve_requests_total{route="/v1/recommend",status="200"} 8"#), metrics)
        }
    }
}

/// `gr serve`'s options.
final class ServeCommandTests: XCTestCase {
    func testOptionsAreValidatedBeforeAnythingLoads() throws {
        XCTAssertThrowsError(try GRCommand.parseAsRoot(["serve"])) { e in
            XCTAssertTrue(GRCommand.message(for: e).contains("--checkpoint"), GRCommand.message(for: e))
        }
        XCTAssertThrowsError(try GRCommand.parseAsRoot(["serve", "--synthetic-items", "1000"])) { e in
            XCTAssertTrue(GRCommand.message(for: e).contains("--synthetic-config"), GRCommand.message(for: e))
        }
        for (option, value) in [("--max-body", "lots"), ("--max-batch", "0"), ("--queue", "0"), ("--max-k", "0"),
                                ("--max-wait-ms", "-1"), ("--threads", "0"), ("--port", "70000"),
                                ("--engine-nice", "20")] {
            var command = try GRCommand.parseAsRoot(["serve", "--checkpoint", "/no/such.safetensors", "\(option)=\(value)"])
            XCTAssertThrowsError(try command.run(), "\(option) \(value)") { e in
                XCTAssertTrue("\(e)".contains(option.dropFirst(2)), "\(option): \(e)")
            }
        }
        XCTAssertEqual(ServeLimits.parseByteSize("1MB"), 1 << 20)
        XCTAssertEqual(ServeLimits.parseByteSize("512kb"), 512 << 10)
        XCTAssertEqual(ServeLimits.parseByteSize("1048576"), 1 << 20)
        XCTAssertEqual(ServeLimits.parseByteSize("2GiB"), 2 << 30)
        XCTAssertNil(ServeLimits.parseByteSize("1.5MB"))
        XCTAssertNil(ServeLimits.parseByteSize("MB"))
    }
}
