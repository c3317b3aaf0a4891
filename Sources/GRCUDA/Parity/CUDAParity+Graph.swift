import Foundation
import GRCore

extension CUDAParity {
    /// CUDA graph capture and replay (`CUDAGraph`), GPU against GPU: a replay of a captured
    /// sequence (a GEMM, a pinned upload, kernels, temporaries allocated inside the capture) gives
    /// exactly what the eager calls gave; the capture itself runs nothing; a second replay
    /// accumulates like a second eager call; and a tensor allocated after the capture is not
    /// touched by replays (the graph keeps its blocks). Empty where the driver has no graph API.
    static func graph(gpu b: CUDABackend, seed: UInt64) -> [ParityResult] {
        if b.graphsUnavailable != nil { return [] }
        let (m, k, n) = (37, 19, 23)   // ragged sizes
        let s = PhiloxStream(seed: seed, stream: 0x6772_6170_68)
        func random(_ count: Int, _ slot: Int) -> [Float] { (0..<count).map { s.uniform(UInt64(slot * 100_000 + $0)) * 2 - 1 } }
        let x = b.upload(random(m * k, 1), shape: [m * k]), w = b.upload(random(k * n, 2), shape: [k * n])
        let bias = Tensor(random(n, 3), shape: [n])
        let y = b.zeros([m * n], .f32), acc = b.zeros([m * n], .f32)
        func body() {   // y = silu(x·w + bias); acc += 0.5·y
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
        let graph: CUDAGraph
        do { graph = try b.captureGraph { body() } } catch {
            return [ParityResult(name: "graph capture (\(error))", error: .nan, tolerance: 0)]
        }
        let ranNothing = b.download(y).allSatisfy { $0.isNaN }
        let other = b.zeros([m * n], .f32)   // an eager tensor made after the capture
        b.fill(other, 7)
        graph.launch()
        let replayY = b.download(y), replayAcc = b.download(acc)
        graph.launch()
        let twice = b.download(acc)
        let untouched = b.download(other).allSatisfy { $0 == 7 }
        return [
            ParityResult(name: "graph: capture runs nothing", error: ranNothing ? 0 : .nan, tolerance: 0),
            ParityResult(name: "graph: replay = eager (\(graph.nodeCount) nodes)",
                         error: max(relativeError(eagerY, replayY), relativeError(eagerAcc, replayAcc)), tolerance: 0),
            ParityResult(name: "graph: 2nd replay accumulates", error: relativeError(eagerAcc.map { $0 * 2 }, twice), tolerance: 0),
            ParityResult(name: "graph: later tensors not aliased", error: untouched ? 0 : .nan, tolerance: 0),
        ]
    }
}
