import XCTest
import GRCore
import GRCPU
import GRTestSupport
@testable import GRModels

/// Finite-difference checks of the whole model's loss (dropout on, sampled negatives, fixed
/// randomness) w.r.t. a few parameter entries of every tensor, on tiny sizes.
final class ModelGradientCheckTests: XCTestCase {
    static let maxItemId = 12

    /// A tiny batch: lengths 3, 1, 4 with N = maxSequenceLength + outputLength + 1.
    static func input(_ c: ModelConfig, seed: UInt64) -> ModelInput {
        let n = c.paddedWidth, lengths = [3, 1, 4]
        let s = PhiloxStream(seed: seed, stream: 99)
        var ids = [Int32](repeating: 0, count: 3 * n), ts = [Int64](repeating: 0, count: 3 * n)
        var k: UInt64 = 0
        for (b, l) in lengths.enumerated() {
            var now: Int64 = 1_000_000_000
            for t in 0...l {  // history plus the target at index L_b
                ids[b * n + t] = Int32(1 + s.below(maxItemId, k)); k += 1
                now += Int64(s.below(200_000, k)); k += 1
                ts[b * n + t] = now
            }
        }
        return ModelInput(layout: JaggedLayout(lengths: lengths), paddedWidth: n, ids: ids, timestamps: ts)
    }

    /// Parameters drawn N(0, 0.3²) so every nonlinearity is exercised (as the fixtures do).
    static func randomize(_ m: any SequentialRecommender) {
        for e in m.parameters.entries {
            Initialization.fillNormal(m.parameters, e.name, std: 0.3, seed: 5)
        }
    }

    func check(_ c: ModelConfig, file: StaticString = #filePath, line: UInt = #line) {
        let model = makeModel(c, maxItemId: Self.maxItemId, corpus: (1...Int32(Self.maxItemId)).map { $0 },
                              backend: CPUBackend(), seed: 3)
        Self.randomize(model)
        let input = Self.input(c, seed: 11)
        let r = StepRandomness(seed: 42, step: 7)
        func loss() -> Float { model.trainStep(input, negatives: .sampled(r.stream(.negatives)), randomness: r) }
        let arena = model.parameters
        arena.zeroGrads()
        _ = loss()
        let grads = arena.grads.toArray()
        let values = arena.values.floats
        let h: Float = 2e-3
        var checked = 0
        for e in arena.entries {
            // The three largest-magnitude gradient entries of each tensor.
            let count = e.shape.reduce(1, *)
            let order = (0..<count).sorted { abs(grads[e.offset + $0]) > abs(grads[e.offset + $1]) }
            for i in order.prefix(3) {
                let k = e.offset + i, old = values[k]
                values[k] = old + h; let up = Double(loss())
                values[k] = old - h; let down = Double(loss())
                values[k] = old
                let fd = (up - down) / (2 * Double(h)), g = Double(grads[k])
                XCTAssertEqual(g, fd, accuracy: 2e-2 * max(abs(fd), 1e-1), "\(e.name)[\(i)]", file: file, line: line)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 10, file: file, line: line)
    }

    func testHSTUGradientsMatchFiniteDifferences() {
        check(ModelConfig(kind: .hstu, itemDim: 4, blocks: 2, heads: 2, dqk: 2, dv: 3, inputDropout: 0.2,
                          blockDropout: 0.25, maxSequenceLength: 5, outputLength: 2, numNegatives: 3))
    }

    func testSASRecGradientsMatchFiniteDifferences() {
        check(ModelConfig(kind: .sasrec, itemDim: 4, blocks: 2, heads: 2, ffnHidden: 5, inputDropout: 0.2,
                          blockDropout: 0.25, maxSequenceLength: 5, outputLength: 2, numNegatives: 3))
    }

    func testBCELossGradientsMatchFiniteDifferences() {
        check(ModelConfig(kind: .hstu, itemDim: 4, blocks: 1, heads: 1, dqk: 2, dv: 4, inputDropout: 0,
                          blockDropout: 0, maxSequenceLength: 5, outputLength: 2, numNegatives: 1,
                          temperature: 1, loss: .bce))
    }
}
