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
/// the per-sequence flag of the 32-bit bucket path (computed on the device, `gr_hstu_tc_ts_flags`)
/// and the work lists. Build once per batch and reuse across calls; the work lists depend on the
/// layout only and are cached for the last layout (the 8 layers and the backward of one batch
/// share them without host work).
public struct HSTUTensorCorePlan {
    public let layout: JaggedLayout
    public let paddedWidth: Int
    /// The head dim padded for the kernels: 32, 64 or 128.
    public let paddedDim: Int
    public let options: HSTUMaskOptions
    let timestamps: Tensor, flags: Tensor
    let work: HSTUWorkLists
}

/// The work lists of a layout, on the device: offsets (B + 1) and (sequence, block) pairs of the
/// query blocks (the forward and the backward's dQ kernel; longest rows first) and of the key
/// blocks (the backward's dK/dV kernel; most query tiles first).
final class HSTUWorkLists {
    let layout: JaggedLayout
    let offsets: Tensor, queryItems: Tensor, keyItems: Tensor
    let count: Int
    init(layout: JaggedLayout, offsets: Tensor, queryItems: Tensor, keyItems: Tensor, count: Int) {
        self.layout = layout
        self.offsets = offsets
        self.queryItems = queryItems
        self.keyItems = keyItems
        self.count = count
    }
}

extension CUDABackend {
    static let tcTile = 64, tcThreads = 128

    /// The kernels' padded head dim for dqk, dv (nil when over 128).
    static func tensorCoreDim(_ dqk: Int, _ dv: Int) -> Int? {
        let d = max(dqk, dv)
        return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : nil
    }

    /// Shared bytes: GR_TC_FWD_SMEM, GR_TC_DKDV_SMEM, GR_TC_DQ_SMEM of AttentionMMA.cu.
    static func tcForwardShared(_ dp: Int) -> Int {
        4 * tcTile * dp * 2 + 2 * tcTile * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 64 * 16
    }
    static func tcKeyBackwardShared(_ dp: Int) -> Int {
        6 * tcTile * dp * 2 + 3 * tcTile * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 132 * 4 + 256 * 4 + 64 * 16
    }
    static func tcQueryBackwardShared(_ dp: Int) -> Int {
        6 * tcTile * dp * 2 + 2 * tcTile * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 64 * 16
    }

    /// The work lists of `layout` (cached for the last layout).
    func hstuWorkLists(_ layout: JaggedLayout) -> HSTUWorkLists {
        if let w = hstuWorkCache, w.layout == layout { return w }
        let t = Self.tcTile
        var fwd: [(b: Int, block: Int, work: Int)] = [], bwd: [(b: Int, block: Int, work: Int)] = []
        for b in 0..<layout.batchSize {
            let blocks = (layout.length(b) + t - 1) / t
            for x in 0..<blocks {
                fwd.append((b, x, x + 1))
                bwd.append((b, x, blocks - x))
            }
        }
        func upload(_ items: [(b: Int, block: Int, work: Int)]) -> Tensor {
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
        let w = HSTUWorkLists(layout: layout, offsets: offsets, queryItems: upload(fwd), keyItems: upload(bwd),
                              count: fwd.count)
        hstuWorkCache = w
        return w
    }

    /// The plan of one batch: timestamps (B, N) i64 (host or device) on the device, the flags of
    /// the 32-bit bucket path computed there (no host round trip), the cached work lists.
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
        let work = hstuWorkLists(layout)
        let ts = toDevice(timestamps), flags = empty([max(layout.batchSize, 1)], .i32)
        if layout.batchSize > 0 {
            context.launch("gr_hstu_tc_ts_flags", grid: (layout.batchSize, 1, 1), block: 256, shared: 0,
                           [.ptr(work.offsets), .ptr(ts), .i(paddedWidth), .ptr(flags)])
        }
        return HSTUTensorCorePlan(layout: layout, paddedWidth: paddedWidth, paddedDim: dp, options: options,
                                  timestamps: ts, flags: flags, work: work)
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
    func allowDynamicShared(_ name: String, bytes shared: Int) {
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
        if plan.work.count == 0 { return }
        let (name, shared) = hstuForwardKernel(paddedDim: plan.paddedDim)
        allowDynamicShared(name, bytes: shared)
        context.launch(name, grid: (plan.work.count, heads, 1), block: Self.tcThreads, shared: shared,
                       [.ptr(q), .ptr(k), .ptr(v), .ptr(plan.work.offsets), .ptr(plan.work.queryItems), .ptr(plan.flags),
                        .ptr(plan.timestamps), .ptr(positionWeights), .ptr(timeWeights), .ptr(timeBucketTable()),
                        .ptr(timeBucketTable32()), .i(plan.layout.totalTokens),
                        .i(heads), .i(dv), .i(plan.paddedWidth), .i(plan.options.targetCount),
                        .i(plan.options.contextualLength), .ptr(out)])
    }

    /// Backward on packed operands (dOut packed like v), two kernels: key blocks (dk, dV
    /// overwritten; dPositionWeights, dTimeWeights +=) and query blocks (dq overwritten), all of
    /// them (T rows, `rowStride`, head h at columns h·dqk / h·dv).
    public func hstuTensorCoreBackward(plan: HSTUTensorCorePlan, q: Tensor, k: Tensor, v: Tensor, dOut: Tensor,
                                       positionWeights: Tensor, timeWeights: Tensor, heads: Int, dqk: Int, dv: Int,
                                       rowStride: Int, dq: Tensor, dk: Tensor, dV: Tensor,
                                       dPositionWeights: Tensor, dTimeWeights: Tensor) {
        if plan.work.count == 0 { return }
        let dp = plan.paddedDim, t = plan.layout.totalTokens
        let common: [KernelArg] = [.ptr(q), .ptr(k), .ptr(v), .ptr(dOut), .ptr(plan.work.offsets)]
        let tail: [KernelArg] = [.ptr(plan.flags), .ptr(plan.timestamps), .ptr(positionWeights), .ptr(timeWeights),
                                 .ptr(timeBucketTable()), .ptr(timeBucketTable32()), .i(t), .i(heads), .i(dqk), .i(dv),
                                 .i(plan.paddedWidth), .i(plan.options.targetCount), .i(plan.options.contextualLength),
                                 .i(rowStride)]
        let kv = "gr_hstu_tc_bwd_d\(dp)", kvShared = Self.tcKeyBackwardShared(dp)
        allowDynamicShared(kv, bytes: kvShared)
        context.launch(kv, grid: (plan.work.count, heads, 1), block: Self.tcThreads, shared: kvShared,
                       common + [.ptr(plan.work.keyItems)] + tail + [.ptr(dk), .ptr(dV), .ptr(dPositionWeights), .ptr(dTimeWeights)])
        let qn = "gr_hstu_tc_bwd_dq_d\(dp)", qShared = Self.tcQueryBackwardShared(dp)
        allowDynamicShared(qn, bytes: qShared)
        context.launch(qn, grid: (plan.work.count, heads, 1), block: Self.tcThreads, shared: qShared,
                       common + [.ptr(plan.work.queryItems)] + tail + [.ptr(dq)])
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
        precondition(q.dtype == .f32 && k.dtype == .f32 && v.dtype == .f32, "hstuAttention (bf16): f32 q, k, v")
        let qb = scratchTensor("attn.tc.q", max(n, 2), .bf16), kb = scratchTensor("attn.tc.k", max(n, 2), .bf16)
        let vb = scratchTensor("attn.tc.v", max(n, 2), .bf16)
        // q, k, v in one launch (gr_hstu_tc_pack3; the same work as three packHSTUOperand calls)
        context.launch("gr_hstu_tc_pack3", grid: (blocks(n / 2), 3, 1), block: 256,
                       [.ptr(q), .ptr(k), .ptr(v), .i(rowStride), .i(t), .i(heads), .i(dqk), .i(dv), .i(dp),
                        .ptr(qb), .ptr(kb), .ptr(vb)])
        return (plan, qb, kb, vb)
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
