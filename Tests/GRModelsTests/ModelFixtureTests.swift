import XCTest
import GRCore
import GRCPU
import GRTestSupport
@testable import GRModels

/// Full HSTU / SASRec encoders + sampled-softmax loss with the fixture's explicit negatives against
/// `hstu_model.safetensors` / `sasrec_model.safetensors`: x⁰, encoder outputs, loss, every gradient.
final class ModelFixtureTests: XCTestCase {
    func testHSTUModelMatchesReference() throws {
        let (f, model, input, negatives) = try ModelFixture.load(.hstu)
        let hstu = model as! HSTUModel
        let loss = model.trainStep(input, negatives: .explicit(negatives), randomness: nil)
        let refLoss = try f.doubles("output.loss")[0]
        XCTAssertEqual(Double(loss), refLoss, accuracy: 1e-5 * abs(refLoss))
        let d = 8, n = 21, layout = input.layout, tt = layout.totalTokens
        // Jagged (T, D) → padded (B, N, D), zeros elsewhere (the reference's dense output).
        func padded(_ jagged: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: 3 * n * d)
            for b in 0..<3 { for t in 0..<layout.length(b) { for c in 0..<d {
                out[(b * n + t) * d + c] = jagged[(layout.start(b) + t) * d + c]
            } } }
            return out
        }
        assertClose(padded(hstu.workspace.tensor("hstu.x.2", [tt, d]).toArray()),
                    try f.doubles("intermediate.encoder_pre_l2"), "encoder_pre_l2")
        assertClose(padded(hstu.workspace.tensor("hstu.u", [tt, d]).toArray()),
                    try f.doubles("output.user_embeddings"), "user_embeddings")
        for e in model.parameters.entries {
            assertClose(model.parameters.grad(e.name).toArray(), try f.doubles("grad." + e.name), "grad." + e.name)
        }
        // Only rows t < L_b enter HSTU; x⁰ at the target row (index L_b) is outside the stack.
        let x0 = try f.doubles("intermediate.x0")
        let x0History = (0..<(3 * n * d)).map { i in (i / d) % n < layout.length(i / (n * d)) ? x0[i] : 0 }
        hstu.encode(input, rows: EncoderRows.jagged(input, backend: hstu.backend), randomness: nil)
        assertClose(padded(hstu.workspace.tensor("hstu.x.0", [tt, d]).toArray()), x0History, "x0")
    }

    func testSASRecModelMatchesReference() throws {
        let (f, model, input, negatives) = try ModelFixture.load(.sasrec)
        let sasrec = model as! SASRecModel
        let loss = model.trainStep(input, negatives: .explicit(negatives), randomness: nil)
        let refLoss = try f.doubles("output.loss")[0]
        XCTAssertEqual(Double(loss), refLoss, accuracy: 1e-5 * abs(refLoss))
        let r = 3 * 21
        // Fixture quirk 4: SASRec's output at index L_b (the target) is non-zero; compared as is.
        assertClose(sasrec.workspace.tensor("sasrec.x.2", [r, 8]).toArray(),
                    try f.doubles("intermediate.encoder_pre_l2"), "encoder_pre_l2")
        assertClose(sasrec.workspace.tensor("sasrec.u", [r, 8]).toArray(),
                    try f.doubles("output.user_embeddings"), "user_embeddings")
        assertClose(sasrec.workspace.tensor("sasrec.x.0", [r, 8]).toArray(), try f.doubles("intermediate.x0"), "x0")
        for e in model.parameters.entries {
            assertClose(model.parameters.grad(e.name).toArray(), try f.doubles("grad." + e.name), "grad." + e.name)
        }
    }
}
