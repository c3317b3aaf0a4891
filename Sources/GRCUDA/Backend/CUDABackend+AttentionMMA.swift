import Foundation
import GRCore

/// Which HSTU attention kernels `CUDABackend.hstuAttentionForward/Backward` run: the f32 kernels
/// of `Attention.cu` (parity with the CPU to ~1e-6, the default), or the tensor-core kernels of
/// `AttentionMMA.cu` (bf16 operands, f32 accumulation; ~3e-3 relative to the CPU).
public enum CUDAAttentionPrecision: String, Sendable, CaseIterable {
    case f32, bf16

    /// `GR_CUDA_ATTENTION` (f32 or bf16; unset or unknown: f32).
    static var fromEnvironment: CUDAAttentionPrecision {
        ProcessInfo.processInfo.environment["GR_CUDA_ATTENTION"].flatMap { CUDAAttentionPrecision(rawValue: $0.lowercased()) } ?? .f32
    }
}

/// The mask options of HSTU attention (spec §8.2, HEAD's `hstu_mha`; see `AttentionMMA.cu`):
/// the last `targetCount` tokens of every sequence (clamped to its length) attend only to the
/// history and themselves; the first `contextualLength` tokens attend to every history token and
/// are attended to by all. Both 0: plain causal, the model's attention.
public struct HSTUMaskOptions: Sendable, Equatable {
    public var targetCount: Int
    public var contextualLength: Int
    public init(targetCount: Int = 0, contextualLength: Int = 0) {
        precondition(targetCount >= 0 && contextualLength >= 0, "HSTUMaskOptions: counts must be ≥ 0")
        self.targetCount = targetCount
        self.contextualLength = contextualLength
    }
    public static let causal = HSTUMaskOptions()
}

/// What the tensor-core kernels need about one jagged batch, on the device: offsets, timestamps,
/// and the work lists (sequence, block) of the forward (query blocks, longest rows first) and
/// the backward (key blocks, most query tiles first). Build once per batch; reuse across calls.
public struct HSTUTensorCorePlan {
    public let layout: JaggedLayout
    public let paddedWidth: Int
    /// The head dim padded for the kernels: 32, 64 or 128.
    public let paddedDim: Int
    public let options: HSTUMaskOptions
    let offsets: Tensor, timestamps: Tensor
    let forwardItems: Tensor, backwardItems: Tensor
    let forwardCount: Int, backwardCount: Int
}

extension CUDABackend {
    static let tcTile = 64, tcThreads = 128

    /// The kernels' padded head dim for dqk, dv (nil when over 128).
    static func tensorCoreDim(_ dqk: Int, _ dv: Int) -> Int? {
        let d = max(dqk, dv)
        return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : nil
    }

    /// Shared bytes: GR_TC_FWD_SMEM / GR_TC_BWD_SMEM of AttentionMMA.cu.
    static func tcForwardShared(_ dp: Int) -> Int {
        5 * tcTile * dp * 2 + 2 * tcTile * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 64 * 16
    }
    static func tcBackwardShared(_ dp: Int) -> Int {
        6 * tcTile * dp * 2 + tcTile * tcTile * 2 + 3 * tcTile * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 132 * 4 + 256 * 4 + 64 * 16
    }

    /// Device copies of the layout, timestamps (B, N) i64 (host or device) and the work lists.
    public func makeHSTUPlan(layout: JaggedLayout, timestamps: Tensor, paddedWidth: Int, dqk: Int, dv: Int,
                             options: HSTUMaskOptions = .causal) -> HSTUTensorCorePlan {
        guard let dp = Self.tensorCoreDim(dqk, dv) else {
            preconditionFailure("hstuAttention (bf16): head dims dqk \(dqk), dv \(dv) over 128 are not supported")
        }
        for b in 0..<layout.batchSize {
            precondition(layout.length(b) <= paddedWidth,
                         "hstuAttention: sequence \(b) has length \(layout.length(b)) > paddedWidth \(paddedWidth)")
        }
        precondition(timestamps.dtype == .i64 && timestamps.count == layout.batchSize * paddedWidth,
                     "hstuAttention: timestamps must be i64 (B, N) = (\(layout.batchSize), \(paddedWidth)), got \(timestamps.shape)")
        let t = Self.tcTile
        let hostTimestamps = toHost(timestamps)
        var fwd: [(b: Int, block: Int, work: Int)] = [], bwd: [(b: Int, block: Int, work: Int)] = []
        for b in 0..<layout.batchSize {
            let blocks = (layout.length(b) + t - 1) / t
            // the 32-bit bucket path when T[b, 0...min(L, N − 1)] spans less than 2³¹
            let fast = Self.timestampSpanFits(hostTimestamps.int64s + b * paddedWidth, count: min(layout.length(b), paddedWidth - 1) + 1)
            let flag = fast ? 1 << 30 : 0
            for x in 0..<blocks {
                fwd.append((b, x | flag, x + 1))
                bwd.append((b, x | flag, blocks - x))
            }
        }
        func upload(_ items: [(b: Int, block: Int, work: Int)], _ key: String) -> Tensor {
            let sorted = items.sorted { ($0.work, $1.b) > ($1.work, $0.b) }
            var words: [Int32] = []
            words.reserveCapacity(2 * sorted.count)
            for it in sorted { words += [Int32(it.b), Int32(it.block)] }
            let d = empty([max(words.count, 2)], .i32)
            if !words.isEmpty { words.withUnsafeBytes { context.copyToDevice(d.devicePointer, $0.baseAddress!, $0.count) } }
            return d
        }
        let offsets = empty([layout.offsets.count], .i32)
        layout.offsets.withUnsafeBytes { context.copyToDevice(offsets.devicePointer, $0.baseAddress!, $0.count) }
        return HSTUTensorCorePlan(layout: layout, paddedWidth: paddedWidth, paddedDim: dp, options: options,
                                  offsets: offsets, timestamps: toDevice(timestamps),
                                  forwardItems: upload(fwd, "fwd"), backwardItems: upload(bwd, "bwd"),
                                  forwardCount: fwd.count, backwardCount: bwd.count)
    }

    /// `TimeBucket.table` as u32 (64 × (base, t1, t2, t3), thresholds capped at 2³² − 1) for the
    /// kernels' 32-bit bucket path (gaps < 2³¹ only, where every capped threshold is "none"), built once.
    func timeBucketTable32() -> Tensor {
        if let t = scratch["attn.tc.table32"] { return t }
        var words: [Int32] = []
        for e in TimeBucket.table {
            words.append(e.base)
            for x in [e.t1, e.t2, e.t3] { words.append(Int32(bitPattern: UInt32(min(x, UInt64(UInt32.max))))) }
        }
        let t = upload(words, shape: [words.count])
        scratch["attn.tc.table32"] = t
        return t
    }

    /// Whether max − min of the `count` timestamps is below 2³¹ (then every gap the kernels take
    /// is exact in 32 bits).
    static func timestampSpanFits(_ ts: UnsafeMutablePointer<Int64>, count: Int) -> Bool {
        var lo = Int64.max, hi = Int64.min
        for x in 0..<count { lo = min(lo, ts[x]); hi = max(hi, ts[x]) }
        let (span, overflow) = hi.subtractingReportingOverflow(lo)
        return count == 0 || (!overflow && span < 1 << 31)
    }

    /// bf16 [H][T][DP] copy of the strided f32 operand `src` (T rows, `rowStride`, head h at
    /// columns h·d ..< (h+1)·d), zero-padded to DP columns. `into` reuses a buffer when given.
    public func packHSTUOperand(_ src: Tensor, rowStride: Int, tokens: Int, heads: Int, dim: Int, paddedDim: Int,
                                into: Tensor? = nil) -> Tensor {
        precondition(src.dtype == .f32 && dim <= paddedDim && paddedDim % 8 == 0, "packHSTUOperand: f32 source, dim ≤ paddedDim")
        let count = heads * tokens * paddedDim
        let dst = into ?? empty([max(count, 2)], .bf16)
        precondition(dst.dtype == .bf16 && dst.count >= count, "packHSTUOperand: destination too small")
        let pairs = count / 2
        context.launch("gr_hstu_tc_pack", blocks: blocks(pairs), block: 256,
                       [.ptr(src), .i(rowStride), .i(tokens), .i(heads), .i(dim), .i(paddedDim), .ptr(dst)])
        return dst
    }

    /// Sets the kernel's dynamic shared-memory limit once (over 48 KB needs it); a missing entry
    /// point (the host emulator) is skipped.
    func prepareTensorCoreKernel(_ name: String, shared: Int) {
        if attentionDriver.prepared.contains(name) { return }
        if let set = attentionDriver.cuFuncSetAttribute {
            context.makeCurrent()
            context.cu.must(set(context.function(name), 8 /* MAX_DYNAMIC_SHARED_SIZE_BYTES */, Int32(shared)),
                            "cuFuncSetAttribute(\(name), max dynamic shared \(shared))")
        }
        attentionDriver.prepared.insert(name)
    }

    /// Forward on packed operands: out (T, H·dv) f32, the rows of every sequence overwritten.
    public func hstuTensorCoreForward(plan: HSTUTensorCorePlan, q: Tensor, k: Tensor, v: Tensor,
                                      positionWeights: Tensor, timeWeights: Tensor, heads: Int, dv: Int, out: Tensor) {
        if plan.forwardCount == 0 { return }
        let dp = plan.paddedDim, name = "gr_hstu_tc_fwd_d\(dp)", shared = Self.tcForwardShared(dp)
        prepareTensorCoreKernel(name, shared: shared)
        context.launch(name, grid: (plan.forwardCount, heads, 1), block: Self.tcThreads, shared: shared,
                       [.ptr(q), .ptr(k), .ptr(v), .ptr(plan.offsets), .ptr(plan.forwardItems), .ptr(plan.timestamps),
                        .ptr(positionWeights), .ptr(timeWeights), .ptr(timeBucketTable()), .ptr(timeBucketTable32()),
                        .i(plan.layout.totalTokens),
                        .i(heads), .i(dv), .i(plan.paddedWidth), .i(plan.options.targetCount),
                        .i(plan.options.contextualLength), .ptr(out)])
    }

    /// Backward on packed operands (dOut packed like v): dq, dk, dV (T rows, `rowStride`)
    /// overwritten; dPositionWeights, dTimeWeights +=.
    public func hstuTensorCoreBackward(plan: HSTUTensorCorePlan, q: Tensor, k: Tensor, v: Tensor, dOut: Tensor,
                                       positionWeights: Tensor, timeWeights: Tensor, heads: Int, dqk: Int, dv: Int,
                                       rowStride: Int, dq: Tensor, dk: Tensor, dV: Tensor,
                                       dPositionWeights: Tensor, dTimeWeights: Tensor) {
        if plan.backwardCount == 0 { return }
        let dp = plan.paddedDim, t = plan.layout.totalTokens
        let name = "gr_hstu_tc_bwd_d\(dp)", shared = Self.tcBackwardShared(dp)
        prepareTensorCoreKernel(name, shared: shared)
        let acc = scratchTensor("attn.tc.dq", heads * t * dp, .f32)
        context.memset32(acc.devicePointer, 0, acc.count)
        context.launch(name, grid: (plan.backwardCount, heads, 1), block: Self.tcThreads, shared: shared,
                       [.ptr(q), .ptr(k), .ptr(v), .ptr(dOut), .ptr(plan.offsets), .ptr(plan.backwardItems),
                        .ptr(plan.timestamps), .ptr(positionWeights), .ptr(timeWeights), .ptr(timeBucketTable()),
                        .ptr(timeBucketTable32()), .i(t), .i(heads), .i(dqk), .i(dv), .i(plan.paddedWidth), .i(plan.options.targetCount),
                        .i(plan.options.contextualLength), .i(rowStride), .ptr(dk), .ptr(dV), .ptr(acc),
                        .ptr(dPositionWeights), .ptr(dTimeWeights)])
        context.launch("gr_hstu_tc_store_dq", blocks: blocks(t * heads * dqk), block: 256,
                       [.ptr(acc), .i(t), .i(heads), .i(dp), .i(dqk), .i(rowStride), .ptr(dq)])
    }

    /// The whole bf16 forward from the backend's f32 strided operands (pack, then the kernel).
    public func hstuAttentionForwardBF16(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                                         timestamps: Tensor, positionWeights: Tensor, timeWeights: Tensor,
                                         heads: Int, dqk: Int, dv: Int, paddedWidth: Int,
                                         options: HSTUMaskOptions = .causal, out: Tensor) {
        if layout.totalTokens == 0 { return }
        let (plan, qb, kb, vb) = prepareHSTU(q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                                             heads: heads, dqk: dqk, dv: dv, paddedWidth: paddedWidth, options: options)
        hstuTensorCoreForward(plan: plan, q: qb, k: kb, v: vb, positionWeights: positionWeights, timeWeights: timeWeights,
                              heads: heads, dv: dv, out: out)
    }

    /// The whole bf16 backward from the backend's f32 strided operands.
    public func hstuAttentionBackwardBF16(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                          layout: JaggedLayout, timestamps: Tensor, positionWeights: Tensor,
                                          timeWeights: Tensor, heads: Int, dqk: Int, dv: Int, paddedWidth: Int,
                                          options: HSTUMaskOptions = .causal,
                                          dq: Tensor, dk: Tensor, dv dV: Tensor,
                                          dPositionWeights: Tensor, dTimeWeights: Tensor) {
        let t = layout.totalTokens
        if t == 0 { return }
        let (plan, qb, kb, vb) = prepareHSTU(q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                                             heads: heads, dqk: dqk, dv: dv, paddedWidth: paddedWidth, options: options)
        let dp = plan.paddedDim
        let gb = packHSTUOperand(dOut, rowStride: heads * dv, tokens: t, heads: heads, dim: dv, paddedDim: dp,
                                 into: scratchTensor("attn.tc.g", heads * t * dp, .bf16))
        hstuTensorCoreBackward(plan: plan, q: qb, k: kb, v: vb, dOut: gb, positionWeights: positionWeights,
                               timeWeights: timeWeights, heads: heads, dqk: dqk, dv: dv, rowStride: rowStride,
                               dq: dq, dk: dk, dV: dV, dPositionWeights: dPositionWeights, dTimeWeights: dTimeWeights)
    }

    /// The plan of the batch and q, k, v packed to bf16 (in scratch buffers).
    func prepareHSTU(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout, timestamps: Tensor,
                     heads: Int, dqk: Int, dv: Int, paddedWidth: Int, options: HSTUMaskOptions)
        -> (HSTUTensorCorePlan, Tensor, Tensor, Tensor) {
        let plan = makeHSTUPlan(layout: layout, timestamps: timestamps, paddedWidth: paddedWidth, dqk: dqk, dv: dv,
                                options: options)
        let t = layout.totalTokens, dp = plan.paddedDim, n = heads * t * dp
        return (plan, packHSTUOperand(q, rowStride: rowStride, tokens: t, heads: heads, dim: dqk, paddedDim: dp,
                                into: scratchTensor("attn.tc.q", n, .bf16)),
                packHSTUOperand(k, rowStride: rowStride, tokens: t, heads: heads, dim: dqk, paddedDim: dp,
                                into: scratchTensor("attn.tc.k", n, .bf16)),
                packHSTUOperand(v, rowStride: rowStride, tokens: t, heads: heads, dim: dv, paddedDim: dp,
                                into: scratchTensor("attn.tc.v", n, .bf16)))
    }

    /// Registers, local (spill) bytes and static shared bytes of a kernel (nil where the driver
    /// lacks cuFuncGetAttribute, e.g. the host emulator).
    public func kernelResources(_ name: String) -> (registers: Int, localBytes: Int)? {
        guard let get = attentionDriver.cuFuncGetAttribute else { return nil }
        context.makeCurrent()
        var regs: Int32 = 0, local: Int32 = 0
        let f = context.function(name)
        guard get(&regs, 4 /* NUM_REGS */, f) == 0, get(&local, 3 /* LOCAL_SIZE_BYTES */, f) == 0 else { return nil }
        return (Int(regs), Int(local))
    }
}
