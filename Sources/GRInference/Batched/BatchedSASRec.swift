import Foundation
import GRCore
import GRCPU
import GRModels

/// SASRec's eval forward (spec §3) for serving, B users in one jagged (T, D) activation (no
/// padding: the attention is causal and every other op is per row, so rows < L_b never see the
/// dense layout's padding). Per block (D dim, H heads, F FFN width):
///
///     Qn = LN(x); q = Qn·W_qᵀ + b_q; [k|v] = x·[W_k; W_v]ᵀ + [b_k; b_v]      (T, 3D)
///     c_i = Σ_{j ≤ i} softmax_j(q_i·k_j / √(D/H)) v_j                        (per head)
///     h = LN(Qn + c·W_oᵀ + b_o); x' = ReLU(h·W_1ᵀ + b_1)·W_2ᵀ + b_2 + h
///
/// The last block runs k and v for every row and the rest for each user's last row only.
final class BatchedSASRec: BatchedEncoder {
    /// eps of both SASRec LayerNorms (spec §3).
    static let layerNormEps: Float = 1e-8

    let config: ModelConfig
    let dim: Int, heads: Int, hidden: Int
    struct Block {
        let q: LayerWeight, kv: LayerWeight, out: LayerWeight, ffn1: LayerWeight, ffn2: LayerWeight
        let inBias: UnsafeMutablePointer<Float>, outBias: UnsafeMutablePointer<Float>
        let bias1: UnsafeMutablePointer<Float>, bias2: UnsafeMutablePointer<Float>
    }
    let blocks: [Block]
    let itemTable: UnsafeMutablePointer<Float>, positionTable: UnsafeMutablePointer<Float>
    let scratches = ScratchPool()
    var precision: InferencePrecision { blocks[0].q.precision }

    init(_ model: any SequentialRecommender, precision: InferencePrecision) {
        let c = model.config, d = c.itemDim, f = c.ffnHidden
        config = c
        dim = d; heads = c.heads; hidden = f
        typealias P = ParameterNames.SASRec
        let p = model.parameters
        blocks = (0..<c.blocks).map { l in
            let inW = p.value(P.inProjWeight(l)).floats
            return Block(q: LayerWeight(inW, k: d, n: d, transposed: true, precision: precision),
                         kv: LayerWeight(inW + d * d, k: d, n: 2 * d, transposed: true, precision: precision),
                         out: LayerWeight(p.value(P.outProjWeight(l)).floats, k: d, n: d, transposed: true, precision: precision),
                         ffn1: LayerWeight(p.value(P.conv1Weight(l)).floats, k: d, n: f, transposed: true, precision: precision),
                         ffn2: LayerWeight(p.value(P.conv2Weight(l)).floats, k: f, n: d, transposed: true, precision: precision),
                         inBias: p.value(P.inProjBias(l)).floats, outBias: p.value(P.outProjBias(l)).floats,
                         bias1: p.value(P.conv1Bias(l)).floats, bias2: p.value(P.conv2Bias(l)).floats)
        }
        itemTable = p.value(ParameterNames.itemEmbedding).floats
        positionTable = p.value(ParameterNames.positionalEmbedding).floats
    }

    func forwardChunk(_ sequences: ArraySlice<BatchedSequence>, scratch: ScratchBuffers, profile: OpProfile?) -> [Float] {
        let bsz = sequences.count
        if bsz == 0 { return [] }
        let rows = JaggedRows(sequences), t = rows.total, d = dim
        var x = scratch.floats("x", t * d), y = scratch.floats("y", t * d)
        let qkv = scratch.floats("qkv", t * 3 * d), qn = scratch.floats("qn", t * d)
        profile.time("input embedding") {
            BatchedMath.inputEmbedding(sequences, rows: rows, table: itemTable, positions: positionTable, dim: d, out: x)
        }
        for p in blocks.dropLast() {
            profile.time("layernorm") { layerNorm(x, qn, rows: t, scratch) }
            profile.time("qkv gemm") {
                p.q.multiply(qn, rows: t, lda: d, into: qkv, ldc: 3 * d, accumulate: false)
                p.kv.multiply(x, rows: t, lda: d, into: qkv + d, ldc: 3 * d, accumulate: false)
                addBias(qkv, p.inBias, rows: t, cols: 3 * d)
            }
            let core = scratch.floats("core", t * d)
            profile.time("attention") {
                Parallel.forRanges(bsz, minChunk: 1) { users in
                    for b in users {
                        let base = rows.offsets[b]
                        attention(queries: qkv + base * 3 * d, count: rows.length(b), firstQuery: 0, keys: qkv + base * 3 * d,
                                  out: core + base * d)
                    }
                }
            }
            feedForward(p, core: core, qn: qn, rows: t, out: y, scratch: scratch, profile: profile)
            swap(&x, &y)
        }
        // Last block: k, v of every row; q and the rest of the block for each user's last row.
        let p = blocks[blocks.count - 1]
        let lastX = scratch.floats("lastX", bsz * d), lastQn = scratch.floats("lastQn", bsz * d)
        let lastQ = scratch.floats("lastQ", bsz * 3 * d), lastCore = scratch.floats("lastCore", bsz * d)
        let lastY = scratch.floats("lastY", bsz * d)
        profile.time("layernorm") {
            for b in 0..<bsz { (lastX + b * d).update(from: x + rows.last(b) * d, count: d) }
            layerNorm(lastX, lastQn, rows: bsz, scratch)
        }
        profile.time("qkv gemm") {
            p.kv.multiply(x, rows: t, lda: d, into: qkv + d, ldc: 3 * d, accumulate: false)
            for r in 0..<t { for c in 0..<(2 * d) { qkv[r * 3 * d + d + c] += p.inBias[d + c] } }
            p.q.multiply(lastQn, rows: bsz, lda: d, into: lastQ, ldc: 3 * d, accumulate: false)
            for b in 0..<bsz { for c in 0..<d { lastQ[b * 3 * d + c] += p.inBias[c] } }
        }
        profile.time("attention") {
            Parallel.forRanges(bsz, minChunk: 8) { users in
                for b in users {
                    attention(queries: lastQ + b * 3 * d, count: 1, firstQuery: rows.length(b) - 1,
                              keys: qkv + rows.offsets[b] * 3 * d, out: lastCore + b * d)
                }
            }
        }
        feedForward(p, core: lastCore, qn: lastQn, rows: bsz, out: lastY, scratch: scratch, profile: profile)
        return profile.time("l2 normalize") { BatchedMath.l2Normalized(lastY, rows: bsz, dim: d, eps: config.l2Eps) }
    }

    /// out (rows, D) = FFN(h) + h with h = LN(qn + core·W_oᵀ + b_o).
    private func feedForward(_ p: Block, core: UnsafeMutablePointer<Float>, qn: UnsafeMutablePointer<Float>, rows m: Int,
                             out: UnsafeMutablePointer<Float>, scratch: ScratchBuffers, profile: OpProfile?) {
        let d = dim, f = hidden
        let hpre = scratch.floats("hpre", m * d), h = scratch.floats("h", m * d), f1 = scratch.floats("f1", m * f)
        profile.time("out gemm") {
            BatchedMath.residualBias(qn, bias: p.outBias, rows: m, cols: d, out: hpre)
            p.out.multiply(core, rows: m, lda: d, into: hpre, ldc: d, accumulate: true)
        }
        profile.time("layernorm") { layerNorm(hpre, h, rows: m, scratch) }
        profile.time("ffn gemm") {
            p.ffn1.multiply(h, rows: m, lda: d, into: f1, ldc: f, accumulate: false)
            for r in 0..<m {
                let row = f1 + r * f
                for c in 0..<f { row[c] = max(row[c] + p.bias1[c], 0) }
            }
            BatchedMath.residualBias(h, bias: p.bias2, rows: m, cols: d, out: out)
            p.ffn2.multiply(f1, rows: m, lda: f, into: out, ldc: d, accumulate: true)
        }
    }

    private func layerNorm(_ x: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int,
                           _ scratch: ScratchBuffers) {
        let mean = scratch.floats("mean", rows), rstd = scratch.floats("rstd", rows)
        NormKernels.layerNormForward(x, out, mean, rstd, rows, dim, Self.layerNormEps)
    }

    private func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { let row = x + r * cols; for c in 0..<cols { row[c] += bias[c] } }
    }

    /// Causal softmax attention of `count` queries (rows of stride 3D, q in columns 0..<D) at
    /// positions firstQuery ..< firstQuery + count of one sequence, over its keys/values (rows of
    /// stride 3D from `keys`: k at column D, v at 2D); out (count, D).
    private func attention(queries: UnsafeMutablePointer<Float>, count: Int, firstQuery: Int,
                           keys: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let d = dim, dh = d / heads, scale = 1 / Float(dh).squareRoot()
        let a = UnsafeMutablePointer<Float>.allocate(capacity: firstQuery + count)
        defer { a.deallocate() }
        for m in 0..<count {
            let i = firstQuery + m, q = queries + m * 3 * d
            for h in 0..<heads {
                for j in 0...i { a[j] = InferenceKernels.dot(q + h * dh, keys + j * 3 * d + d + h * dh, dh) * scale }
                InferenceKernels.softmax(a, i + 1)
                let o = out + m * d + h * dh
                o.initialize(repeating: 0, count: dh)
                for j in 0...i { InferenceKernels.axpy(a[j], keys + j * 3 * d + 2 * d + h * dh, o, dh) }
            }
        }
    }
}
