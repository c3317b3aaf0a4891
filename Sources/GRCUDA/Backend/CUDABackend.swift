import Foundation
import GRCore

/// The CUDA backend: every `Backend` op as a kernel queued on one stream (sources in
/// `Kernels/*.cu`, compiled by NVRTC for the device, cached on disk), GEMMs through cuBLASLt with
/// TF32 tensor-core compute. Tensors it makes live in device memory (`Device.cuda`); `download`
/// and the scalar results of the losses synchronise.
///
/// Ops that receive a host tensor where the GPU needs one (the i64 timestamps of the attention,
/// which GRModels keeps on the host) copy it to a scratch device buffer first.
public final class CUDABackend: Backend {
    public let context: CUDAContext
    var gemmWorkspace: Tensor? = nil
    var ltHandle: OpaquePointer? = nil
    var bucketTable: Tensor? = nil
    var scratch: [String: Tensor] = [:]
    /// Set once `gr train` replays step graphs: a scratch buffer that grows keeps its old tensor
    /// here (a graph may address it) instead of freeing it.
    var retainsReplacedScratch = false
    var replacedScratch: [Tensor] = []
    /// DeferredLossOps state: on/off, the device list of deferred losses and how many it holds.
    var deferring = false
    /// cuBLASLt configurations by GEMM shape (`gemmPlan`).
    var gemmPlans: [GEMMKey: GEMMPlan] = [:]
    /// Precision of `gemm` (the model's GEMMs): TF32 unless `GR_CUDA_GEMM` says bf16 or f32.
    public var gemmPrecision: GEMMPrecision = .fromEnvironment
    var deferredLosses: Tensor? = nil
    /// The step index `captureStep` is capturing (nil: not capturing a step): Philox streams and
    /// AdamW's scalars then follow the device step counter.
    var deviceStep: Int? = nil
    /// Bound device offsets (i32, B + 1) HSTU attention reads instead of uploading the layout's
    /// (`StepGraphOps.bindJaggedOffsets`: padded HSTU step graphs).
    var jaggedOffsets: Tensor? = nil
    var deferredCount = 0
    /// HSTU attention kernels: `.f32` (default, CPU parity ~1e-6) or `.bf16` (tensor cores), from
    /// `GR_CUDA_ATTENTION`.
    public var attentionPrecision: CUDAAttentionPrecision = .fromEnvironment
    lazy var attentionDriver = CUDAAttentionDriver(context)
    /// The bf16 forward kernel at head dim 128 (`GR_CUDA_ATTENTION_FWD`: wgmma or mma;
    /// `CUDABackend+AttentionWGMMA.swift`).
    public var hstuForwardKernel: HSTUForwardKernel = .fromEnvironment
    /// The sampled-softmax item gradient through shared-memory column slices
    /// (`gr_loss_scatter_slices`, `CUDABackend+LossScatter.swift`) where the item table fits;
    /// false (`GR_CUDA_SCATTER_SLICES=0`): one global atomic per (position, sample, column).
    public var itemGradientSlices = EnvironmentSwitch.value("GR_CUDA_SCATTER_SLICES", default: true)
    /// SASRec's softmax attention on the TF32 tensor-core kernels for head dims ≤ 64
    /// (`CUDABackend+SoftmaxMMA.swift`); false (`GR_CUDA_SOFTMAX_MMA=0`): the tiled f32 kernels.
    public var softmaxAttentionMMA = EnvironmentSwitch.value("GR_CUDA_SOFTMAX_MMA", default: true)
    /// The tensor-core attention's work lists of the last jagged layout (`makeHSTUPlan`).
    var hstuWorkCache: HSTUWorkLists? = nil

    /// Opens the libraries and device `ordinal`, compiles (or loads) the kernels, creates the
    /// cuBLASLt handle. Throws a `CUDAError` that says what is missing.
    public init(ordinal: Int = 0) throws {
        context = try CUDAContext(ordinal: ordinal)
        try context.loadModule(source: CUDAKernelSources.all)
        var h: OpaquePointer? = nil
        try context.lt.check(context.lt.cublasLtCreate(&h), "cublasLtCreate")
        ltHandle = h
    }

    /// A shared instance (nil and `error` set when CUDA is unavailable). Tests and the CLI use it,
    /// so kernels are compiled once per process.
    public static let shared: Result<CUDABackend, Error> = Result { try CUDABackend() }

    public var name: String {
        "cuda (\(context.deviceName), \(context.arch)\(gemmPrecision == .tf32 ? "" : ", \(gemmPrecision.rawValue) GEMMs"))"
    }
    public var device: Device { .cuda }

    public func zeros(_ shape: [Int], _ dtype: DType) -> Tensor {
        let count = shape.reduce(1, *)
        let bytes = count * dtype.size
        let s = context.allocate(byteCount: bytes)
        let t = Tensor(storage: s, shape: shape, dtype: dtype)
        context.memset32(t.devicePointer, 0, (bytes + 3) / 4)
        return t
    }

    /// A device tensor with undefined contents.
    func empty(_ shape: [Int], _ dtype: DType) -> Tensor {
        Tensor(storage: context.allocate(byteCount: shape.reduce(1, *) * dtype.size), shape: shape, dtype: dtype)
    }

    public func upload(_ values: [Float], shape: [Int]) -> Tensor {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        let t = empty(shape, .f32)
        values.withUnsafeBytes { context.copyToDevice(t.devicePointer, $0.baseAddress!, $0.count) }
        return t
    }

    public func upload(_ values: [Int32], shape: [Int]) -> Tensor {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        let t = empty(shape, .i32)
        values.withUnsafeBytes { if $0.count > 0 { context.copyToDevice(t.devicePointer, $0.baseAddress!, $0.count) } }
        return t
    }

    /// Any host tensor to the device (same dtype and shape); device tensors are returned as is.
    public func toDevice(_ t: Tensor) -> Tensor {
        if t.device == .cuda { return t }
        let d = empty(t.shape, t.dtype)
        context.copyToDevice(d.devicePointer, t.rawPointer, t.count * t.dtype.size)
        return d
    }

    /// A host copy of any tensor (same dtype and shape).
    public func toHost(_ t: Tensor) -> Tensor {
        if t.device == .cpu { return t }
        let h = Tensor(zeros: t.shape, dtype: t.dtype)
        context.copyToHost(h.rawPointer, t.devicePointer, t.count * t.dtype.size)
        return h
    }

    public func download(_ t: Tensor) -> [Float] {
        precondition(t.dtype == .f32, "download: f32 only, got \(t.dtype)")
        if t.device == .cpu { return t.toArray() }
        var out = [Float](repeating: 0, count: t.count)
        out.withUnsafeMutableBytes { context.copyToHost($0.baseAddress!, t.devicePointer, $0.count) }
        return out
    }

    public func downloadInt32(_ t: Tensor) -> [Int32] {
        precondition(t.dtype == .i32, "downloadInt32: i32 only, got \(t.dtype)")
        if t.device == .cpu { return Array(UnsafeBufferPointer(start: t.int32s, count: t.count)) }
        var out = [Int32](repeating: 0, count: t.count)
        out.withUnsafeMutableBytes { context.copyToHost($0.baseAddress!, t.devicePointer, $0.count) }
        return out
    }

    public func fill(_ t: Tensor, _ value: Float) {
        precondition(t.dtype == .f32 || value == 0, "fill: f32 tensor expected, got \(t.dtype)")
        context.memset32(t.devicePointer, value.bitPattern, t.count * t.dtype.size / 4)
    }

    public func copy(_ src: Tensor, to dst: Tensor) {
        precondition(src.count == dst.count && src.dtype == dst.dtype, "copy \(src.shape) to \(dst.shape)")
        let bytes = src.count * src.dtype.size
        switch (src.device, dst.device) {
        case (.cuda, .cuda): context.copyOnDevice(dst.devicePointer, src.devicePointer, bytes)
        case (.cpu, .cuda): context.copyToDevice(dst.devicePointer, src.rawPointer, bytes)
        case (.cuda, .cpu): context.copyToHost(dst.rawPointer, src.devicePointer, bytes)
        case (.cpu, .cpu): dst.rawPointer.copyMemory(from: src.rawPointer, byteCount: bytes)
        }
    }

    public func synchronize() { context.synchronize() }

    /// A reusable device buffer of at least `count` elements for internal scratch (grown on demand).
    func scratchTensor(_ key: String, _ count: Int, _ dtype: DType) -> Tensor {
        if let t = scratch[key], t.count >= count, t.dtype == dtype { return t.view(0, [count]) }
        let t = empty([max(count, 1)], dtype)
        if retainsReplacedScratch, let old = scratch[key] { replacedScratch.append(old) }
        scratch[key] = t
        return t.view(0, [count])
    }

    /// Blocks for a grid-stride kernel over n elements.
    func blocks(_ n: Int, _ threads: Int = 256) -> Int { max(1, min((n + threads - 1) / threads, 65_535 * 8)) }
}
