import XCTest
import GRCore
import GRCPU
@testable import GRModels

/// A few AdamW steps (spec §5.1 settings) on one tiny batch must drive the loss down (llm.c's
/// "run 10 steps and compare losses" check, here without reference losses: monotone-ish decrease).
final class ModelTrainingTests: XCTestCase {
    func trainLosses(_ c: ModelConfig, steps: Int) -> [Float] {
        let backend = CPUBackend()
        let model = makeModel(c, maxItemId: 12, corpus: (1...12).map { Int32($0) }, backend: backend, seed: 1)
        let input = ModelGradientCheckTests.input(c, seed: 3)
        let p = model.parameters
        let m = backend.zeros([p.count], .f32), v = backend.zeros([p.count], .f32)
        var losses: [Float] = []
        for step in 0..<steps {
            p.zeroGrads()
            losses.append(model.trainStep(input, step: step, seed: 5))
            backend.adamwStep(params: p.values, grads: p.grads, m: m, v: v, step: step + 1, lr: 1e-2, beta1: 0.9,
                              beta2: 0.98, eps: 1e-8, weightDecay: 0)
        }
        return losses
    }

    func testHSTUAndSASRecLossesDecrease() {
        for c in [ModelBehaviourTests.hstu, ModelBehaviourTests.sasrec] {
            var noDropout = c
            noDropout.inputDropout = 0
            noDropout.blockDropout = 0
            let losses = trainLosses(noDropout, steps: 12)
            XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(c.kind): \(losses)")
            XCTAssertLessThan(losses.last!, 0.5 * losses.first!, "\(c.kind): \(losses)")
        }
    }
}
