import GRCore
import GRCUDA
import XCTest

/// CUDA graph capture and replay (`CUDAGraph`): a replay does what the eager calls did, capture
/// itself runs nothing, and blocks allocated inside the capture never alias later eager tensors.
/// Skipped without CUDA (CI); runs on the GPU and on the host emulator (scripts/cuda-emulator).
final class CUDAGraphTests: XCTestCase {
    func testReplayEqualsEager() throws {
        let b: CUDABackend
        switch CUDABackend.shared {
        case .success(let x): b = x
        case .failure(let e): throw XCTSkip("no CUDA here: \(e)")
        }
        if let why = b.graphsUnavailable { throw XCTSkip("no CUDA graphs: \(why)") }
        let (m, k, n) = (37, 19, 23)   // ragged sizes
        var rng = SystemRandomNumberGenerator()
        let x = b.upload((0..<m * k).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [m * k])
        let w = b.upload((0..<k * n).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [k * n])
        let bias = Tensor((0..<n).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [n])
        let y = b.zeros([m * n], .f32), acc = b.zeros([m * n], .f32)
        // y = silu(x·w + bias) (a GEMM, an upload, kernels, a temporary); acc += 0.5·y
        func body() {
            let t = b.zeros([m * n], .f32)
            b.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: x, lda: k, b: w, ldb: n, beta: 0, c: t, ldc: n)
            let dBias = b.zeros([n], .f32)
            b.copy(bias, to: dBias)
            b.addBias(x: t, bias: dBias, rows: m, cols: n)
            b.siluForward(x: t, out: y, count: m * n)
            b.axpy(alpha: 0.5, x: y, y: acc, count: m * n)
        }
        body()
        let eagerY = b.download(y), eagerAcc = b.download(acc)
        b.fill(y, .nan)
        b.fill(acc, 0)
        let graph = try b.captureGraph { body() }
        XCTAssertTrue(b.download(y).allSatisfy { $0.isNaN }, "capture must not run the work")
        XCTAssertGreaterThanOrEqual(graph.nodeCount, 5)
        let other = b.zeros([m * n], .f32)   // an eager tensor made after the capture
        b.fill(other, 7)
        graph.launch()
        XCTAssertEqual(b.download(y), eagerY)
        XCTAssertEqual(b.download(acc), eagerAcc)
        graph.launch()
        XCTAssertEqual(b.download(acc), eagerAcc.map { $0 * 2 }, "a replay accumulates like a second eager call")
        XCTAssertTrue(b.download(other).allSatisfy { $0 == 7 }, "a graph's blocks must not alias later eager tensors")
    }
}
