import GRCore
import GRModels

/// M new tokens to run through an encoder against a `KVState`.
public struct NewTokens {
    /// (M) item ids (≥ 1).
    public var ids: [Int32]
    /// (M) absolute positions (index into the positional table, < N).
    public var positions: [Int]
    /// (M) the timestamp each token is attended with as a key (its own event time).
    public var keyTimestamps: [Int64]
    /// (M) the timestamp each token uses as a query (HSTU, spec §2.3: the *next* position's
    /// timestamp, the target slot for the last history row).
    public var queryTimestamps: [Int64]

    public var count: Int { ids.count }
}

/// How the new tokens attend (spec §2.2 causal attention; §8.1 M-FALCON).
public enum AttentionMode {
    /// New token m is row R + m of the sequence: it attends to the state's R rows and new tokens
    /// 0...m, and its keys/values are appended to the state (history appends).
    case append
    /// New token m attends to the state's R rows and itself only; the state is not changed
    /// (M-FALCON candidates, all at position R).
    case candidates
}

/// The eval forward (no dropout) of a model, run on new tokens against cached per-layer keys and
/// values. With an empty state and `.append` it is the model's whole forward of one sequence.
public protocol IncrementalEncoder {
    var config: ModelConfig { get }
    /// Floats per row of a layer's cached keys / values.
    var keyWidth: Int { get }
    var valueWidth: Int { get }
    /// Runs `tokens` through every layer; returns the (M, D) L2-normalised outputs (spec §2.4).
    /// `.append` appends the tokens' keys/values to `state` (ids/timestamps too).
    func forward(_ tokens: NewTokens, state: inout KVState, mode: AttentionMode) -> [Float]
}

extension IncrementalEncoder {
    public func emptyState() -> KVState {
        KVState(layers: config.blocks, keyWidth: keyWidth, valueWidth: valueWidth)
    }
}

/// The incremental encoder of a loaded model (HSTU or SASRec) on the CPU backend.
public func makeIncrementalEncoder(_ model: any SequentialRecommender) -> any IncrementalEncoder {
    precondition(model.backend.device == .cpu, "incremental inference runs on the CPU backend")
    switch model.config.kind {
    case .hstu: return IncrementalHSTU(model)
    case .sasrec: return IncrementalSASRec(model)
    }
}

/// Shared pieces of both encoders.
enum EncoderMath {
    /// x⁰ (M, D) = E[id]·√D + P[position] (spec §2.1; ids are ≥ 1, so the padding mask is 1).
    static func inputEmbedding(_ tokens: NewTokens, model: any SequentialRecommender) -> Tensor {
        let d = model.config.itemDim, m = tokens.count
        let table = model.parameters.value(ParameterNames.itemEmbedding).floats
        let positions = model.parameters.value(ParameterNames.positionalEmbedding).floats
        let scale = Float(d).squareRoot()
        let x = Tensor(zeros: [max(m, 1), d])
        for r in 0..<m {
            let e = table + Int(tokens.ids[r]) * d, p = positions + tokens.positions[r] * d, out = x.floats + r * d
            for c in 0..<d { out[c] = e[c] * scale + p[c] }
        }
        return x
    }

    /// Rows of the (M, D) final activations, L2-normalised (eps `config.l2Eps`).
    static func normalizedOutputs(_ y: Tensor, rows m: Int, model: any SequentialRecommender) -> [Float] {
        let d = model.config.itemDim
        if m == 0 { return [] }
        let out = Tensor(zeros: [m, d])
        model.backend.l2NormalizeForward(x: y, out: out, norms: Tensor(zeros: [m]), rows: m, cols: d,
                                         eps: model.config.l2Eps)
        return Array(UnsafeBufferPointer(start: out.floats, count: m * d))
    }

    /// Rows up to which `gemm` multiplies directly (SIMD dot/axpy, no packing, no threads): an
    /// append runs 1–2 rows a layer, where the blocked GEMM's packing costs more than the product.
    static let directGemmRows = 4

    /// C (m, n) = A (m, k)·op(B) + beta·C, op(B) = B (k, n) or Bᵀ with B (n, k): the backend's
    /// GEMM, or for m ≤ `directGemmRows` rows a direct loop over B's rows.
    static func gemm(_ backend: any Backend, transB: Bool, m: Int, n: Int, k: Int, a: Tensor, lda: Int, b: Tensor,
                     ldb: Int, beta: Float, c: Tensor, ldc: Int) {
        guard m <= directGemmRows else {
            backend.gemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                         beta: beta, c: c, ldc: ldc)
            return
        }
        let pa = a.floats, pb = b.floats, pc = c.floats
        let products = UnsafeMutablePointer<Float>.allocate(capacity: transB ? n : 0)
        defer { products.deallocate() }
        for i in 0..<m {
            let row = pc + i * ldc, x = pa + i * lda
            if beta == 0 { row.initialize(repeating: 0, count: n) } else if beta != 1 {
                for j in 0..<n { row[j] *= beta }
            }
            if transB {
                InferenceKernels.dots(x, pb, stride: ldb, count: n, k, into: products)
                for j in 0..<n { row[j] += products[j] }
            } else {
                for kk in 0..<k { InferenceKernels.axpy(x[kk], pb + kk * ldb, row, n) }
            }
        }
    }

    /// The first r rows (width `width`) of a cached layer as a tensor (at least one row).
    static func rowsTensor(_ rows: [Float], count r: Int, width: Int) -> Tensor {
        let t = Tensor(zeros: [max(r, 1), width])
        rows.withUnsafeBufferPointer { t.floats.update(from: $0.baseAddress!, count: r * width) }
        return t
    }

    /// Head columns [offset, offset + dh) of out (M, ldo) = P (M, r; row stride ldp)·V[:, offset..<+dh]
    /// with V (r, ldv); zeros when r = 0.
    static func weightedValues(_ backend: any Backend, p: Tensor, ldp: Int, rows m: Int, keys r: Int, values: Tensor,
                               ldv: Int, offset: Int, dh: Int, out: Tensor, ldo: Int) {
        if r > 0 {
            backend.gemm(transA: false, transB: false, m: m, n: dh, k: r, alpha: 1, a: p, lda: ldp,
                         b: values.view(offset, [r * ldv - offset]), ldb: ldv, beta: 0,
                         c: out.view(offset, [m * ldo - offset]), ldc: ldo)
        } else {
            for t in 0..<m { (out.floats + t * ldo + offset).initialize(repeating: 0, count: dh) }
        }
    }

    /// Appends `m` rows of width `width` read with stride `stride` from `src` to `dst`.
    static func appendRows(_ dst: inout [Float], _ src: UnsafePointer<Float>, rows m: Int, width: Int, stride: Int) {
        dst.reserveCapacity(dst.count + m * width)
        for r in 0..<m { dst.append(contentsOf: UnsafeBufferPointer(start: src + r * stride, count: width)) }
    }

    /// The number of keys new token m sees among the state rows (after an `.append` wrote the new
    /// rows: R + m + 1; for candidates: R) and whether it also attends to itself separately.
    @inline(__always)
    static func keyRange(_ mode: AttentionMode, prefix: Int, token m: Int) -> (stored: Int, selfKey: Bool) {
        switch mode {
        case .append: return (prefix + m + 1, false)
        case .candidates: return (prefix, true)
        }
    }
}
