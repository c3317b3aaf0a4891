import XCTest
import GRCore
import GRCPU
import GRTestSupport
@testable import GRModels

/// One HSTU layer against `hstu_layer.safetensors`: output y and every gradient of sum(y ⊙ R).
final class HSTULayerFixtureTests: XCTestCase {
    func testLayerForwardAndBackwardMatchReference() throws {
        let f = try Shared.fixture("hstu_layer")
        let backend = CPUBackend()
        let names = ["_uvqk", "_rel_attn_bias._ts_w", "_rel_attn_bias._pos_w", "_o.weight", "_o.bias"]
        let arena = ParameterArena(try names.map { ($0, try f.shape("param." + $0)) }, backend: backend)
        for n in names { arena.setValue(n, try f.floats("param." + n)) }
        let layer = HSTULayer(index: 0, dim: 8, heads: 2, dqk: 4, dv: 4, paddedWidth: 13, dropout: 0, backend: backend,
                              arena: arena, names: (names[0], names[1], names[2], names[3], names[4]))
        let layout = JaggedLayout(offsets: try f.int64s("input.x_offsets").map { Int32($0) })
        XCTAssertEqual(layout.lengths, [5, 1, 11])
        let t = layout.totalTokens
        let ws = Workspace(backend: backend)
        let x = Tensor(try f.floats("input.x"), shape: [t, 8]), y = Tensor(zeros: [t, 8])
        let tsValues = try f.int64s("input.all_timestamps")
        let ts = Tensor(zeros: [3, 13], dtype: .i64)
        for (i, v) in tsValues.enumerated() { ts.int64s[i] = v }
        layer.forward(x: x, y: y, layout: layout, timestamps: ts, stream: nil, workspace: ws)
        assertClose(y.toArray(), try f.doubles("output.y"), "y")
        // V is the second column block (H·Dv = 8 wide) of the 32-wide UVQK activations.
        let act = ws.tensor("hstu.uvqk", [t, 32]).toArray()
        var v = [Float](repeating: 0, count: t * 8)
        for r in 0..<t { for c in 0..<8 { v[r * 8 + c] = act[r * 32 + 8 + c] } }
        assertClose(v, try f.doubles("intermediate.v"), "v")

        let dy = Tensor(try f.floats("input.R"), shape: [t, 8]), dx = Tensor(zeros: [t, 8])
        layer.backward(dy: dy, x: x, dx: dx, layout: layout, timestamps: ts, stream: nil, workspace: ws)
        assertClose(dx.toArray(), try f.doubles("grad.x"), "grad.x")
        for n in names { assertClose(arena.grad(n).toArray(), try f.doubles("grad." + n), "grad." + n) }
    }
}
