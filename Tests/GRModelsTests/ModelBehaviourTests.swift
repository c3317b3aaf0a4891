import Foundation
import XCTest
import GRCore
import GRCPU
import GRTestSupport
@testable import GRModels

/// Determinism, initialisation statistics, the arena layout, eval embeddings and config coding.
final class ModelBehaviourTests: XCTestCase {
    static let hstu = ModelConfig(kind: .hstu, itemDim: 8, blocks: 2, heads: 2, dqk: 4, dv: 4, inputDropout: 0.2,
                                  blockDropout: 0.2, maxSequenceLength: 5, outputLength: 2, numNegatives: 4)
    static let sasrec = ModelConfig(kind: .sasrec, itemDim: 8, blocks: 2, heads: 2, ffnHidden: 8, inputDropout: 0.2,
                                    blockDropout: 0.2, maxSequenceLength: 5, outputLength: 2, numNegatives: 4)

    func model(_ c: ModelConfig, seed: UInt64 = 1) -> any SequentialRecommender {
        makeModel(c, maxItemId: 12, corpus: (1...12).map { Int32($0) }, backend: CPUBackend(), seed: seed)
    }

    func testTwoTrainStepsFromTheSameSeedAreIdentical() {
        for c in [Self.hstu, Self.sasrec] {
            let input = ModelGradientCheckTests.input(c, seed: 3)
            let a = model(c), b = model(c)
            XCTAssertEqual(a.parameters.values.toArray(), b.parameters.values.toArray(), "\(c.kind) init")
            let la = a.trainStep(input, step: 4, seed: 9), lb = b.trainStep(input, step: 4, seed: 9)
            XCTAssertEqual(la, lb, "\(c.kind) loss")
            XCTAssertTrue(la.isFinite && la > 0)
            XCTAssertEqual(a.parameters.grads.toArray(), b.parameters.grads.toArray(), "\(c.kind) grads")
            // Another step draws other dropout masks and negatives.
            b.parameters.zeroGrads()
            XCTAssertNotEqual(b.trainStep(input, step: 5, seed: 9), la, "\(c.kind) step 5")
            // And a different seed gives other parameters.
            XCTAssertNotEqual(model(c, seed: 2).parameters.values.toArray(), a.parameters.values.toArray())
        }
    }

    func testPaddingRowGetsNoGradient() {
        for c in [Self.hstu, Self.sasrec] {
            let m = model(c)
            _ = m.trainStep(ModelGradientCheckTests.input(c, seed: 3), step: 0, seed: 1)
            let g = m.parameters.grad(ParameterNames.itemEmbedding).toArray()
            XCTAssertEqual(Array(g[0..<8]), [Float](repeating: 0, count: 8))
            XCTAssertGreaterThan(g.map(abs).max()!, 0)
        }
    }

    func testArenaNamesAndShapesFollowTheReference() {
        let c = ModelConfig(kind: .hstu, itemDim: 50, blocks: 8, heads: 2, dqk: 25, dv: 25, inputDropout: 0.2,
                            blockDropout: 0.2, maxSequenceLength: 200, numNegatives: 128)
        let m = makeModel(c, maxItemId: 3952, corpus: [1, 2], backend: CPUBackend(), seed: 0)
        let p = m.parameters
        XCTAssertEqual(p.shape(ParameterNames.itemEmbedding), [3953, 50])
        XCTAssertEqual(p.shape(ParameterNames.positionalEmbedding), [211, 50])
        XCTAssertEqual(p.shape("_hstu._attention_layers.7._uvqk"), [50, 200])   // spec §2.6
        XCTAssertEqual(p.shape("_hstu._attention_layers.7._rel_attn_bias._pos_w"), [421])
        XCTAssertEqual(p.shape("_hstu._attention_layers.7._rel_attn_bias._ts_w"), [129])
        XCTAssertEqual(p.shape("_hstu._attention_layers.7._o.weight"), [50, 50])
        XCTAssertEqual(p.entries.count, 2 + 8 * 5)
        for e in p.entries { XCTAssertEqual(e.offset % ParameterArena.alignment, 0) }
    }

    /// Sample statistics of every initialiser against spec §2.5 / §3 (loose bounds: sizes are small).
    func testInitialisationFollowsTheSpec() {
        func stats(_ v: [Float]) -> (mean: Double, std: Double, maxAbs: Double) {
            let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            let s = (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot()
            return (m, s, Double(v.map(abs).max()!))
        }
        let c = ModelConfig(kind: .hstu, itemDim: 64, blocks: 1, heads: 2, dqk: 32, dv: 32, inputDropout: 0,
                            blockDropout: 0, maxSequenceLength: 200, numNegatives: 8)
        let h = makeModel(c, maxItemId: 999, corpus: [1], backend: CPUBackend(), seed: 7).parameters
        let item = stats(h.value(ParameterNames.itemEmbedding).toArray())
        XCTAssertEqual(item.std, 0.02 * 0.88, accuracy: 0.001)   // truncated at ±2σ: std ≈ 0.88σ
        // Beyond ±2σ only when all 4 draws are (probability 0.0455⁴ per element).
        let table = h.value(ParameterNames.itemEmbedding).toArray()
        XCTAssertLessThanOrEqual(table.filter { abs($0) >= 0.04 }.count, 3)
        XCTAssertGreaterThan(item.maxAbs, 0.035)
        XCTAssertEqual(stats(h.value(ParameterNames.positionalEmbedding).toArray()).std,
                       (2.0 / Double(211 + 64)).squareRoot(), accuracy: 0.003)   // Xavier-normal
        XCTAssertEqual(stats(h.value("_hstu._attention_layers.0._uvqk").toArray()).std, 0.02, accuracy: 0.001)
        let o = stats(h.value("_hstu._attention_layers.0._o.weight").toArray())
        XCTAssertLessThanOrEqual(o.maxAbs, (6.0 / 128).squareRoot())             // Xavier-uniform bound
        XCTAssertEqual(o.std, (6.0 / 128).squareRoot() / 3.0.squareRoot(), accuracy: 0.01)
        XCTAssertLessThanOrEqual(stats(h.value("_hstu._attention_layers.0._o.bias").toArray()).maxAbs, 1 / 8.0)
        XCTAssertEqual(stats(h.value("_hstu._attention_layers.0._rel_attn_bias._ts_w").toArray()).std, 0.02, accuracy: 0.005)

        let s = ModelConfig(kind: .sasrec, itemDim: 64, blocks: 1, heads: 2, ffnHidden: 32, inputDropout: 0,
                            blockDropout: 0, maxSequenceLength: 200, numNegatives: 8)
        let p = makeModel(s, maxItemId: 999, corpus: [1], backend: CPUBackend(), seed: 7).parameters
        let pos = stats(p.value(ParameterNames.positionalEmbedding).toArray())
        XCTAssertEqual(pos.std, 0.125 * 0.88, accuracy: 0.006)                    // trunc normal √(1/D)
        XCTAssertEqual(stats(p.value("attention_layers.0.in_proj_weight").toArray()).std,
                       (2.0 / Double(64 + 192)).squareRoot(), accuracy: 0.005)
        XCTAssertEqual(p.value("attention_layers.0.in_proj_bias").toArray(), [Float](repeating: 0, count: 192))
        XCTAssertEqual(p.value("attention_layers.0.out_proj.bias").toArray(), [Float](repeating: 0, count: 64))
        XCTAssertLessThanOrEqual(stats(p.value("forward_layers.0._conv1d.0.bias").toArray()).maxAbs, 1 / 8.0)
        XCTAssertLessThanOrEqual(stats(p.value("forward_layers.0._conv1d.3.bias").toArray()).maxAbs, 1 / 32.0.squareRoot())
    }

    func testEvalEmbeddingsAreUnitRowsAtTheLastHistoryPosition() {
        for c in [Self.hstu, Self.sasrec] {
            let m = model(c)
            let train = ModelGradientCheckTests.input(c, seed: 3)
            // Eval view: the same histories without the target id (its timestamp stays at L_b).
            var ids = train.ids
            for b in 0..<3 { ids[b * c.paddedWidth + train.layout.length(b)] = 0 }
            let eval = ModelInput(layout: train.layout, paddedWidth: c.paddedWidth, ids: ids, timestamps: train.timestamps)
            let u = m.userEmbeddings(eval)
            XCTAssertEqual(u.shape, [3, 8])
            let v = u.toArray()
            for b in 0..<3 {
                let norm = (0..<8).reduce(Float(0)) { $0 + v[b * 8 + $1] * v[b * 8 + $1] }.squareRoot()
                XCTAssertEqual(norm, 1, accuracy: 1e-5)
            }
            // Deterministic (no dropout in eval) and independent of the rest of the batch.
            XCTAssertEqual(m.userEmbeddings(eval).toArray(), v)
            let items = m.itemEmbeddings()
            XCTAssertEqual(items.shape, [13, 8])
        }
    }

    func testConfigRoundTripsThroughJSONAndValidates() throws {
        let data = try JSONEncoder().encode(Self.hstu)
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: data), Self.hstu)
        XCTAssertEqual(Self.hstu.paddedWidth, 8)
        var bad = Self.sasrec
        bad.heads = 3
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("heads")) }
        var bce = Self.hstu
        bce.loss = .bce
        XCTAssertThrowsError(try bce.validate()) { XCTAssertTrue("\($0)".contains("temperature")) }
    }
}
