import Foundation
import GRCore
import GRCPU
import GRData
import GRModels
@testable import GRTrain
import XCTest

final class TrainerTests: XCTestCase {
    var cleanup: [String] = []
    override func tearDown() {
        for p in cleanup { try? FileManager.default.removeItem(atPath: p) }
        cleanup = []
    }

    func store() throws -> SequenceStore {
        let (s, dir) = try TinyStore.make()
        cleanup.append(dir.path)
        return s
    }

    func out(_ tag: String) -> String {
        let d = TinyStore.tempDir(tag)
        cleanup.append(d)
        return d
    }

    func quiet(_ dir: String) -> TrainOptions {
        var o = TrainOptions(outDirectory: dir)
        o.progress = false
        o.log = { _ in }
        return o
    }

    /// Every preset (blocks capped at 2 and sizes shrunk so a debug build stays fast) trains one step
    /// and evaluates every user.
    func testEveryPresetTrainsAStepAndEvaluates() throws {
        let s = try store()
        for p in Repo.presets {
            let c = try ConfigFile.load(path: Repo.path("configs/\(p).yaml"), overrides: TinyStore.shrink + ["batch_size=32", "blocks=2"])
            let dir = out("preset")
            let t = try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(dir))
            let summary = try t.run()
            XCTAssertEqual(summary.steps, 1, p)
            XCTAssertEqual(summary.epochsCompleted, 1, p)
            let r = try XCTUnwrap(summary.last, p)
            XCTAssertTrue(r.trainLoss.isFinite && r.trainLoss > 0, "\(p): loss \(r.trainLoss)")
            XCTAssertTrue(r.fullEval, p)
            XCTAssertEqual(r.evalUsers, 24, p)
            XCTAssertNotNil(r.test["ndcg@10"], p)
            for f in ["latest.safetensors", "epoch-0.safetensors", "results.json", "metrics.jsonl", "config.yaml"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + f), "\(p): \(f)")
            }
        }
    }

    func testTrainingLowersTheLossAndIsDeterministic() throws {
        let s = try store()
        let c = try TinyStore.config(["epochs=4", "lr=0.01"])
        let a = try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(out("det-a")))
        let ra = try a.run()
        let b = try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(out("det-b")))
        let rb = try b.run()
        XCTAssertEqual(a.model.parameters.values.toArray(), b.model.parameters.values.toArray())
        XCTAssertEqual(ra.history.map(\.test), rb.history.map(\.test))
        XCTAssertLessThan(ra.history.last!.trainLoss, ra.history.first!.trainLoss)
        XCTAssertEqual(ra.steps, 4 * 3)  // 24 users / batch 8
    }

    func testResumeEqualsAnUninterruptedRun() throws {
        let s = try store()
        let c = try TinyStore.config(["epochs=4", "lr=0.01", "full_eval_every_n=2", "partial_eval_num_iters=1"])
        let straight = try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(out("straight")))
        let expected = try straight.run()

        let dir = out("resumed")
        var first = quiet(dir)
        first.maxEpochsThisRun = 2
        let half = try Trainer(config: c, store: s, backend: CPUBackend(), options: first)
        XCTAssertEqual(try half.run().epochsCompleted, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/results.json"))
        // A second start without --resume refuses to overwrite the run.
        XCTAssertThrowsError(try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(dir))) { e in
            XCTAssertTrue("\(e)".contains("--resume"), "\(e)")
        }
        var second = quiet(dir)
        second.resume = true
        let resumed = try Trainer(config: c, store: s, backend: CPUBackend(), options: second)
        XCTAssertEqual(resumed.epoch, 2)
        let got = try resumed.run()

        XCTAssertEqual(resumed.model.parameters.values.toArray(), straight.model.parameters.values.toArray())
        XCTAssertEqual(resumed.adamM.toArray(), straight.adamM.toArray())
        XCTAssertEqual(resumed.adamV.toArray(), straight.adamV.toArray())
        XCTAssertEqual(got.steps, expected.steps)
        XCTAssertEqual(got.history.map(\.test), expected.history.map(\.test))
        XCTAssertEqual(got.history.map(\.trainLoss), expected.history.map(\.trainLoss))
        XCTAssertEqual(got.history.map(\.fullEval), [true, false, true, true])
        XCTAssertEqual(got.best?.epoch, expected.best?.epoch)
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)

        // Resuming with a different config is refused and names the key.
        var other = c
        other.lr = 0.5
        XCTAssertThrowsError(try Trainer(config: other, store: s, backend: CPUBackend(), options: second)) { e in
            XCTAssertTrue("\(e)".contains("training.lr"), "\(e)")
        }
    }

    func testNonFiniteLossStopsAndKeepsTheLastGoodCheckpoint() throws {
        let s = try store()
        let c = try TinyStore.config(["epochs=3"])
        let dir = out("nan")
        var o = quiet(dir)
        o.beforeStep = { step, model in
            if step == 4 {  // epoch 1, batch 1: poison every parameter
                let v = model.parameters.values
                v.floats.update(repeating: .nan, count: v.count)
            }
        }
        let t = try Trainer(config: c, store: s, backend: CPUBackend(), options: o)
        XCTAssertThrowsError(try t.run()) { e in
            guard case let .nonFiniteLoss(epoch, step, batch, _)? = e as? TrainError else { return XCTFail("\(e)") }
            XCTAssertEqual([epoch, step, batch], [1, 4, 1])
            XCTAssertTrue("\(e)".contains("epoch 1, step 4"), "\(e)")
        }
        let (ckpt, file) = try Checkpoint.read(path: dir + "/latest.safetensors")
        XCTAssertEqual(ckpt.epoch, 1)
        XCTAssertEqual(ckpt.step, 3)
        for name in file.names { XCTAssertTrue(try file.floats(name).allSatisfy(\.isFinite), name) }
    }

    func testLogsCarryTheReferenceTags() throws {
        let s = try store()
        let c = try TinyStore.config(["epochs=2", "full_eval_every_n=2", "partial_eval_num_iters=1"])
        let dir = out("logs")
        try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(dir)).run()
        let tb = dir + "/tb"
        let files = try FileManager.default.contentsOfDirectory(atPath: tb).filter { $0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(files.count, 1)
        let events = try TensorBoardEventFile.read(tb + "/" + files[0])
        var steps: [String: [Int64]] = [:]
        for e in events { for sc in e.scalars { steps[sc.tag, default: []].append(e.step) } }
        XCTAssertEqual(steps["losses/ar_loss"], (0..<6).map(Int64.init))
        XCTAssertEqual(steps["eval_epoch/ndcg@10"], [0, 1])
        XCTAssertEqual(steps["eval_epoch_full/ndcg@10"], [0, 1])  // epoch 1 is the last: always full
        XCTAssertEqual(steps["eval/hr@10"], [0, 2, 4])  // eval_interval 2
        XCTAssertEqual(steps["loss/train"], [2, 4])
        XCTAssertEqual(steps["lr"], [0, 2, 4])
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(first["epoch"] as? Int, 0)
        XCTAssertNotNil((first["test"] as? [String: Any])?["ndcg@10"])
    }

    func testValidationModeSelectsOnTheSecondToLastItem() throws {
        let s = try store()
        let c = try TinyStore.config(["epochs=2", "validation=true"])
        let t = try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(out("valid")))
        XCTAssertEqual(t.trainView.ignoreLastN, 2)
        let summary = try t.run()
        XCTAssertEqual(summary.selectedBy, "validation ndcg@10")
        for r in summary.history { XCTAssertNotNil(r.validation?["ndcg@10"]) }
        let best = try XCTUnwrap(summary.best)
        XCTAssertEqual(best.validation?["ndcg@10"], summary.history.compactMap { $0.validation?["ndcg@10"] }.max())
    }

    func testCheckpointRoundTripAndDamage() throws {
        let s = try store()
        let c = try TinyStore.config(["epochs=1"])
        let dir = out("ckpt")
        let t = try Trainer(config: c, store: s, backend: CPUBackend(), options: quiet(dir))
        try t.run()
        let path = dir + "/latest.safetensors"
        let (model, ckpt) = try loadModel(checkpoint: path, store: s, backend: CPUBackend())
        XCTAssertEqual(ckpt.config, c)
        XCTAssertEqual(ckpt.epoch, 1)
        XCTAssertEqual(model.parameters.values.toArray(), t.model.parameters.values.toArray())
        // Parameter names are the model's (reference state_dict) names; AdamW state beside them.
        let file = try SafeTensorsFile(path: path)
        for e in t.model.parameters.entries {
            XCTAssertEqual(try file.shape(e.name), e.shape)
            XCTAssertEqual(try file.shape(Checkpoint.exp_avgPrefix + e.name), e.shape)
        }

        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = dir + "/cut.safetensors"
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try loadModel(checkpoint: cut, store: s, backend: CPUBackend())) { e in
            XCTAssertTrue("\(e)".contains("cut.safetensors") && "\(e)".contains("truncated"), "\(e)")
        }
        let garbage = dir + "/garbage.safetensors"
        try Data("not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: garbage))
        XCTAssertThrowsError(try loadModel(checkpoint: garbage, store: s, backend: CPUBackend()))
        XCTAssertThrowsError(try loadModel(checkpoint: dir + "/missing.safetensors", store: s, backend: CPUBackend()))
        // A safetensors file that is not one of our checkpoints.
        var w = SafeTensorsWriter()
        w.add("x", floats: [1], shape: [1])
        try w.write(to: dir + "/other.safetensors")
        XCTAssertThrowsError(try loadModel(checkpoint: dir + "/other.safetensors", store: s, backend: CPUBackend())) { e in
            XCTAssertTrue("\(e)".contains("format"), "\(e)")
        }
        // A checkpoint of another model size does not load into this one.
        var bigger = c
        bigger.itemDim = 16
        let entries = makeModel(bigger.modelConfig, maxItemId: s.maxItemId, corpus: s.corpus, backend: CPUBackend(), seed: 1)
            .parameters
        XCTAssertThrowsError(try Checkpoint.load(file, entries: entries.entries, values: entries.values, adamM: nil, adamV: nil)) { e in
            XCTAssertTrue("\(e)".contains("shape"), "\(e)")
        }
    }
}
