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
        return stepGraph(gpu: b, seed: seed) + [
            ParityResult(name: "graph: capture runs nothing", error: ranNothing ? 0 : .nan, tolerance: 0),
            ParityResult(name: "graph: replay = eager (\(graph.nodeCount) nodes)",
                         error: max(relativeError(eagerY, replayY), relativeError(eagerAcc, replayAcc)), tolerance: 0),
            ParityResult(name: "graph: 2nd replay accumulates", error: relativeError(eagerAcc.map { $0 * 2 }, twice), tolerance: 0),
            ParityResult(name: "graph: later tensors not aliased", error: untouched ? 0 : .nan, tolerance: 0),
        ]
    }

    /// A step captured with the device step counter (`CUDABackend.captureStep`) and replayed 5
    /// times against 5 eager steps from the same state: the dropout masks and negatives of each
    /// step (Philox streams of steps s0…s0+4) and AdamW (steps s0+1…s0+5) are bit-identical.
    static func stepGraph(gpu b: CUDABackend, seed: UInt64) -> [ParityResult] {
        let n = 777, s0 = 3, k = 5   // ragged size
        let rs = PhiloxStream(seed: seed, stream: 0x7374_6570)
        let x = b.upload((0..<n).map { rs.uniform(UInt64($0)) * 2 - 1 }, shape: [n])
        let p0 = (0..<n).map { rs.uniform(UInt64(n + $0)) - 0.5 }
        let corpus = b.upload((1...37).map { Int32($0 * 3) }, shape: [37])
        let params = b.upload(p0, shape: [n]), m = b.zeros([n], .f32), v = b.zeros([n], .f32)
        let g = b.zeros([n], .f32), negs = b.zeros([13 * 4], .i32)
        func step(_ s: Int) {   // grads = dropout(x) of step s, negatives of step s, AdamW step s + 1
            b.dropoutForward(x: x, out: g, count: n, p: 0.3,
                             stream: PhiloxStream(seed: seed, stream: RandomStreamKind.layerDropout.stream(step: s, slot: 2)))
            b.sampleNegatives(corpus: corpus, stream: PhiloxStream(seed: seed, stream: RandomStreamKind.negatives.stream(step: s)),
                              out: negs, positions: 13, negatives: 4)
            b.adamwStep(params: params, grads: g, m: m, v: v, step: s + 1, lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-8,
                        weightDecay: 0.01)
        }
        func state() -> [Float] { b.download(g) + b.downloadInt32(negs).map { Float($0) } + b.download(params) + b.download(v) }
        var eager: [[Float]] = []
        for i in 0..<k { step(s0 + i); eager.append(state()) }
        b.copy(b.upload(p0, shape: [n]), to: params)
        b.fill(m, 0); b.fill(v, 0); b.fill(g, .nan)
        let graph: CUDAGraph
        do { graph = try b.captureStep(step: s0) { step(s0) } } catch {
            return [ParityResult(name: "graph: step capture (\(error))", error: .nan, tolerance: 0)]
        }
        b.setDeviceStep(s0)
        var worst = 0.0
        for i in 0..<k {
            graph.launch()
            worst = max(worst, relativeError(eager[i], state()))
        }
        let distinct = !eager[0].elementsEqual(eager[1])   // the steps really differ (masks, negatives)
        // On a GPU the device's double pow of AdamW's bias corrections may differ in the last bit.
        return [ParityResult(name: "graph: 5 replayed steps = 5 eager (device step)", error: distinct ? worst : .nan,
                             tolerance: 1e-6)]
    }
}
