import Foundation
import GRCore

extension CUDABackend {
    /// Threads per block of the attention kernels (keys per chunk).
    static let attentionThreads = 128

    /// Rows per tile of the tiled kernels (`GR_AT_TILE` of AttentionTiled.cu) and their threads.
    static let attentionTile = 32
    /// Largest head dim of the tiled kernels (`GR_AT_MAXD`): each thread holds 4 features of 16.
    static let attentionTiledMaxDim = 64
    /// Static shared-memory limit every kernel launch may use without raising its attribute.
    static let attentionSharedLimit = 48 * 1024
    /// `GR_CUDA_ATTENTION_TILED=0` selects the simple kernels (one CTA per token) for A/B runs.
    static let attentionTiledEnabled = ProcessInfo.processInfo.environment["GR_CUDA_ATTENTION_TILED"] != "0"

    /// Shared bytes of the tiled HSTU kernels (fwd, bwd_q, bwd_kv), or nil where the tiled path
    /// does not apply (head dims over 64, tiles over the shared limit, or switched off).
    static func hstuTiledShared(dqk: Int, dv: Int, n: Int) -> (fwd: Int, q: Int, kv: Int)? {
        guard attentionTiledEnabled, dqk <= attentionTiledMaxDim, dv <= attentionTiledMaxDim else { return nil }
        let (tile, sq, sv, ts) = (attentionTile, dqk | 1, dv | 1, 128)
        let fwd = (ts + tile * (2 * sq + sv + tile + 1)) * 4
        let q = (ts + tile * (2 * sq + 2 * sv + tile + 1)) * 4
        let kv = (ts + tile * (2 * sq + 2 * sv + 2 * (tile + 1)) + 132 + n + tile) * 4
        return max(fwd, q, kv) <= attentionSharedLimit ? (fwd, q, kv) : nil
    }

    /// Shared bytes of the tiled softmax kernels (fwd, bwd_q, bwd_kv), or nil (as above); `rows`:
    /// whether the forward keeps the tile's score rows in shared memory (`keepRows`: where they fit,
    /// else its second pass recomputes QKᵀ).
    static func softmaxTiledShared(dh: Int, n: Int) -> (fwd: Int, rows: Bool, q: Int, kv: Int)? {
        guard attentionTiledEnabled, dh <= attentionTiledMaxDim else { return nil }
        let (tile, sh) = (attentionTile, dh | 1)
        let rows = (tile * (2 * sh + tile + 1 + n + 1)) * 4
        let keep = rows <= attentionSharedLimit
        return (keep ? rows : (tile * (3 * sh + tile + 1)) * 4, keep,
                (tile * (2 * sh + tile + 1)) * 4, (tile * (2 * sh + 2 * (tile + 1))) * 4)
    }

    /// Grid of the tiled kernels: one CTA per (sequence, 32-row tile) × head.
    static func tiledGrid(batch: Int, width: Int, heads: Int) -> (Int, Int, Int) {
        (batch * ((width + attentionTile - 1) / attentionTile), heads, 1)
    }

    /// TimeBucket.table as u64 (64 × (base, t1, t2, t3)) on the device, built once.
    func timeBucketTable() -> Tensor {
        if let t = bucketTable { return t }
        var words: [UInt64] = []
        for e in TimeBucket.table { words += [UInt64(e.base), e.t1, e.t2, e.t3] }
        let t = empty([words.count], .i64)
        words.withUnsafeBytes { context.copyToDevice(t.devicePointer, $0.baseAddress!, $0.count) }
        bucketTable = t
        return t
    }

    /// The offsets (B + 1) and timestamps (B, N) on the device (uploaded into scratch buffers).
    /// Bound offsets (`bindJaggedOffsets`) are used as they are (no upload: a graph can replay it).
    func attentionIndex(_ layout: JaggedLayout, _ timestamps: Tensor) -> (Tensor, Tensor) {
        let offsets: Tensor
        if let bound = jaggedOffsets {
            precondition(bound.device == .cuda && bound.dtype == .i32 && bound.count == layout.offsets.count,
                         "bound jagged offsets: \(bound.count) \(bound.dtype) for B + 1 = \(layout.offsets.count)")
            offsets = bound
        } else {
            offsets = scratchTensor("attn.offsets", layout.offsets.count, .i32)
            layout.offsets.withUnsafeBytes { context.copyToDevice(offsets.devicePointer, $0.baseAddress!, $0.count) }
        }
        let ts: Tensor
        if timestamps.device == .cuda {
            ts = timestamps
        } else {
            ts = scratchTensor("attn.timestamps", timestamps.count, .i64)
            context.copyToDevice(ts.devicePointer, timestamps.rawPointer, timestamps.count * 8)
        }
        return (offsets, ts)
    }

    func checkAttention(_ q: Tensor, _ layout: JaggedLayout, _ n: Int) {
        precondition(q.dtype == .f32, "CUDA hstuAttention: f32 only, got \(q.dtype)")
        for b in 0..<layout.batchSize {
            precondition(layout.length(b) <= n, "hstuAttention: sequence \(b) has length \(layout.length(b)) > paddedWidth \(n)")
        }
    }

    public func hstuAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                                     timestamps: Tensor, positionWeights: Tensor, timeWeights: Tensor,
                                     heads: Int, dqk: Int, dv: Int, paddedWidth: Int, out: Tensor) {
        checkAttention(q, layout, paddedWidth)
        let t = layout.totalTokens
        if t == 0 { return }
        if attentionPrecision == .bf16 && Self.tensorCoreDim(dqk, dv) != nil {
            precondition(jaggedOffsets == nil, "bf16 HSTU attention plans per batch on the host: not with bound offsets")
            hstuAttentionForwardBF16(q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                                     positionWeights: positionWeights, timeWeights: timeWeights, heads: heads, dqk: dqk,
                                     dv: dv, paddedWidth: paddedWidth, out: out)
            return
        }
        let (offsets, ts) = attentionIndex(layout, timestamps)
        let threads = Self.attentionThreads
        if let shared = Self.hstuTiledShared(dqk: dqk, dv: dv, n: paddedWidth) {
            context.launch("gr_hstu_fwd_tiled", grid: Self.tiledGrid(batch: layout.batchSize, width: paddedWidth, heads: heads),
                           block: threads, shared: shared.fwd,
                           [.ptr(q), .ptr(k), .ptr(v), .i(rowStride), .ptr(offsets), .i(layout.batchSize), .ptr(ts),
                            .ptr(positionWeights), .ptr(timeWeights), .ptr(timeBucketTable()), .i(heads), .i(dqk), .i(dv),
                            .i(paddedWidth), .ptr(out)])
            return
        }
        precondition(jaggedOffsets == nil, "untiled HSTU attention: its grid is (T, H), not with bound offsets")
        context.launch("gr_hstu_fwd", grid: (t, heads, 1), block: threads, shared: (dqk + dv + threads) * 4,
                       [.ptr(q), .ptr(k), .ptr(v), .i(rowStride), .ptr(offsets), .i(layout.batchSize), .ptr(ts),
                        .ptr(positionWeights), .ptr(timeWeights), .ptr(timeBucketTable()), .i(heads), .i(dqk), .i(dv),
                        .i(paddedWidth), .ptr(out)])
    }

    public func hstuAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                      layout: JaggedLayout, timestamps: Tensor, positionWeights: Tensor,
                                      timeWeights: Tensor, heads: Int, dqk: Int, dv: Int, paddedWidth: Int,
                                      dq: Tensor, dk: Tensor, dv dV: Tensor,
                                      dPositionWeights: Tensor, dTimeWeights: Tensor) {
        checkAttention(q, layout, paddedWidth)
        let t = layout.totalTokens
        if t == 0 { return }
        if attentionPrecision == .bf16 && Self.tensorCoreDim(dqk, dv) != nil {
            precondition(jaggedOffsets == nil, "bf16 HSTU attention plans per batch on the host: not with bound offsets")
            hstuAttentionBackwardBF16(dOut: dOut, q: q, k: k, v: v, rowStride: rowStride, layout: layout,
                                      timestamps: timestamps, positionWeights: positionWeights, timeWeights: timeWeights,
                                      heads: heads, dqk: dqk, dv: dv, paddedWidth: paddedWidth, dq: dq, dk: dk, dv: dV,
                                      dPositionWeights: dPositionWeights, dTimeWeights: dTimeWeights)
            return
        }
        let (offsets, ts) = attentionIndex(layout, timestamps)
        let threads = Self.attentionThreads
        let common: [KernelArg] = [.ptr(dOut), .ptr(q), .ptr(k), .ptr(v), .i(rowStride), .ptr(offsets), .i(layout.batchSize),
                                   .ptr(ts), .ptr(positionWeights), .ptr(timeWeights), .ptr(timeBucketTable()),
                                   .i(heads), .i(dqk), .i(dv), .i(paddedWidth)]
        if let shared = Self.hstuTiledShared(dqk: dqk, dv: dv, n: paddedWidth) {
            let grid = Self.tiledGrid(batch: layout.batchSize, width: paddedWidth, heads: heads)
            context.launch("gr_hstu_bwd_q_tiled", grid: grid, block: threads, shared: shared.q, common + [.ptr(dq)])
            context.launch("gr_hstu_bwd_kv_tiled", grid: grid, block: threads, shared: shared.kv,
                           common + [.ptr(dk), .ptr(dV), .ptr(dPositionWeights), .ptr(dTimeWeights)])
            return
        }
        precondition(jaggedOffsets == nil, "untiled HSTU attention: its grid is (T, H), not with bound offsets")
        context.launch("gr_hstu_bwd_q", grid: (t, heads, 1), block: threads,
                       shared: (2 * dqk + dv + threads + TimeBucket.count) * 4,
                       common + [.ptr(dq), .ptr(dPositionWeights), .ptr(dTimeWeights)])
        context.launch("gr_hstu_bwd_kv", grid: (t, heads, 1), block: threads, shared: (2 * dqk + 2 * dv + 2 * threads) * 4,
                       common + [.ptr(dk), .ptr(dV)])
    }

    func softmaxDropout(_ dropout: Float, _ stream: PhiloxStream?) -> [KernelArg] {
        guard let stream, dropout > 0 else { return [.u(0), .f(1), .u(0), .u(0), .i(0)] }
        let th = UInt64((Double(dropout) * 16_777_216).rounded(.up))
        return [.u(th), .f(1 / (1 - dropout)), .u(stream.seed), .u(streamID(stream)), .i(1)]
    }

    public func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                        batch: Int, width: Int, dim: Int, heads: Int,
                                        dropout: Float, dropoutStream: PhiloxStream?,
                                        probs: Tensor, out: Tensor) {
        precondition(dim % heads == 0, "softmaxAttention: dim \(dim) must be a multiple of heads \(heads)")
        let dh = dim / heads
        let scale = 1 / Float(dh).squareRoot()
        if softmaxForwardMMA([.ptr(q), .ptr(k), .ptr(v), .i(rowStride), .i(width), .i(dim), .i(heads), .f(scale)]
                                 + softmaxDropout(dropout, dropoutStream) + [.ptr(probs), .ptr(out)],
                             batch: batch, width: width, dh: dh, heads: heads) { return }
        if let shared = Self.softmaxTiledShared(dh: dh, n: width) {
            context.launch("gr_softmax_attn_fwd_tiled", grid: Self.tiledGrid(batch: batch, width: width, heads: heads),
                           block: Self.attentionThreads, shared: shared.fwd,
                           [.ptr(q), .ptr(k), .ptr(v), .i(rowStride), .i(width), .i(dim), .i(heads), .f(scale)]
                               + softmaxDropout(dropout, dropoutStream) + [.ptr(probs), .ptr(out), .i(shared.rows ? 1 : 0)])
            return
        }
        context.launch("gr_softmax_attn_fwd", grid: (batch * width, heads, 1), block: Self.attentionThreads,
                       shared: (dh + width) * 4,
                       [.ptr(q), .ptr(k), .ptr(v), .i(rowStride), .i(width), .i(dim), .i(heads), .f(scale)]
                           + softmaxDropout(dropout, dropoutStream) + [.ptr(probs), .ptr(out)])
    }

    public func softmaxAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                         batch: Int, width: Int, dim: Int, heads: Int,
                                         dropout: Float, dropoutStream: PhiloxStream?, probs: Tensor,
                                         dq: Tensor, dk: Tensor, dv dV: Tensor) {
        precondition(dim % heads == 0, "softmaxAttention: dim \(dim) must be a multiple of heads \(heads)")
        let dh = dim / heads
        let scale = 1 / Float(dh).squareRoot()
        let dz = scratchTensor("attn.dz", batch * heads * width * width, .f32)
        let drop = softmaxDropout(dropout, dropoutStream)
        if softmaxBackwardMMA(q: [.ptr(dOut), .ptr(k), .ptr(v), .i(rowStride), .i(width), .i(dim), .i(heads), .f(scale)]
                                  + drop + [.ptr(probs), .ptr(dz), .ptr(dq)],
                              kv: [.ptr(dOut), .ptr(q), .i(rowStride), .i(width), .i(dim), .i(heads)]
                                  + drop + [.ptr(probs), .ptr(dz), .ptr(dk), .ptr(dV)],
                              batch: batch, width: width, dh: dh, heads: heads) { return }
        if let shared = Self.softmaxTiledShared(dh: dh, n: width) {
            let grid = Self.tiledGrid(batch: batch, width: width, heads: heads)
            context.launch("gr_softmax_attn_bwd_q_tiled", grid: grid, block: Self.attentionThreads, shared: shared.q,
                           [.ptr(dOut), .ptr(k), .ptr(v), .i(rowStride), .i(width), .i(dim), .i(heads), .f(scale)]
                               + drop + [.ptr(probs), .ptr(dz), .ptr(dq)])
            context.launch("gr_softmax_attn_bwd_kv_tiled", grid: grid, block: Self.attentionThreads, shared: shared.kv,
                           [.ptr(dOut), .ptr(q), .i(rowStride), .i(width), .i(dim), .i(heads)]
                               + drop + [.ptr(probs), .ptr(dz), .ptr(dk), .ptr(dV)])
            return
        }
        context.launch("gr_softmax_attn_bwd_q", grid: (batch * width, heads, 1), block: Self.attentionThreads,
                       shared: (dh + width) * 4,
                       [.ptr(dOut), .ptr(k), .ptr(v), .i(rowStride), .i(width), .i(dim), .i(heads), .f(scale)]
                           + drop + [.ptr(probs), .ptr(dz), .ptr(dq)])
        context.launch("gr_softmax_attn_bwd_kv", grid: (batch * width, heads, 1), block: 64,
                       [.ptr(dOut), .ptr(q), .i(rowStride), .i(width), .i(dim), .i(heads)]
                           + drop + [.ptr(probs), .ptr(dz), .ptr(dk), .ptr(dV)])
    }
}
