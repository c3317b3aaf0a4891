import Foundation
import GRCLI
import GREval
@testable import GRTrain
import XCTest

final class TrainCLITests: XCTestCase {
    func run(_ args: [String]) throws {
        var command = try GRCommand.parseAsRoot(args)
        try command.run()
    }

    func testTrainThenEvalThroughTheCommandLine() throws {
        let (_, data) = try TinyStore.make()
        let out = TinyStore.tempDir("cli")
        defer {
            try? FileManager.default.removeItem(at: data)
            try? FileManager.default.removeItem(atPath: out)
        }
        let sets = (TinyStore.shrink + ["epochs=2", "blocks=1"]).flatMap { ["--set", $0] }
        try run(["train", "--config", Repo.path("configs/ml-1m/hstu.yaml"), "--data", data.path, "--out", out,
                 "--seed", "3", "--threads", "1", "--quiet"] + sets)
        let results = try JSONDecoder().decode(TrainSummary.self,
                                               from: Data(contentsOf: URL(fileURLWithPath: out + "/results.json")))
        XCTAssertEqual(results.epochsCompleted, 2)
        XCTAssertEqual(results.config.seed, 3)
        XCTAssertEqual(results.config.epochs, 2)
        XCTAssertNotNil(results.best)

        let ranks = out + "/ranks.csv"
        try run(["eval", "--checkpoint", out + "/latest.safetensors", "--data", data.path, "--ranks-out", ranks])
        let records = try RankFile.read(ranks)
        XCTAssertEqual(records.count, 24)
        // The ranks reproduce the final epoch's test metrics.
        var m = RankingMetrics()
        m.add(ranks: records.map(\.rank), ratings: [])
        XCTAssertEqual(m.mean("ndcg@10")!, results.last!.test["ndcg@10"]!, accuracy: 1e-9)
        try run(["eval", "--checkpoint", out + "/latest.safetensors", "--data", data.path, "--split", "validation"])

        // Bad inputs fail with a message naming what is wrong.
        XCTAssertThrowsError(try run(["train", "--config", Repo.path("configs/ml-1m/hstu.yaml"), "--data", data.path,
                                      "--out", out + "/x", "--set", "epochs=many"])) { e in
            XCTAssertTrue("\(e)".contains("epochs"), "\(e)")
        }
        XCTAssertThrowsError(try run(["train", "--config", "/no/such.yaml", "--data", data.path, "--out", out + "/y"])) { e in
            XCTAssertTrue("\(e)".contains("not found"), "\(e)")
        }
        XCTAssertThrowsError(try run(["eval", "--checkpoint", out + "/nothing.safetensors", "--data", data.path]))
    }

    func testMetricsTableHasTheReportedColumns() {
        let t = metricsTable(["hr@10": 0.3294, "ndcg@10": 0.1893, "hr@50": 0.5935, "ndcg@50": 0.2481, "hr@200": 0.7839,
                              "ndcg@200": 0.2771, "mrr": 0.15], label: "test")
        let lines = t.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines[0], ["split", "HR@10", "NDCG@10", "HR@50", "NDCG@50", "HR@200", "NDCG@200", "MRR"])
        XCTAssertEqual(lines[1], ["test", "0.3294", "0.1893", "0.5935", "0.2481", "0.7839", "0.2771", "0.1500"])
    }
}
