import Foundation
import GRCore
import GRModels

/// One user's model input for the batched serving forward: the window's ids (L ≥ 1, oldest first),
/// their timestamps (L), and the target-slot timestamp (spec §1.4; the last history timestamp when
/// serving, see `Recommender.Window`).
public struct BatchedSequence: Sendable {
    public var ids: [Int32]
    public var timestamps: [Int64]
    public var targetTimestamp: Int64

    public init(ids: [Int32], timestamps: [Int64], targetTimestamp: Int64) {
        precondition(!ids.isEmpty && ids.count == timestamps.count, "BatchedSequence: \(ids.count) ids, \(timestamps.count) timestamps")
        self.ids = ids
        self.timestamps = timestamps
        self.targetTimestamp = targetTimestamp
    }
}

/// Arithmetic of the layer products (`--precision`): f32 everywhere (default), or every layer
/// GEMM with bf16 inputs and f32 accumulation (`BF16GEMM`: AVX-512 BF16 `vdpbf16ps`, selected by a
/// run-time CPU check; f32 on a CPU without it). Norms, attention and the residual stream stay f32.
public enum InferencePrecision: String, Sendable, CaseIterable {
    case f32
    case bf16
}

/// The serving forward: B users' windows → their (B, D) L2-normalised user vectors (the output at
/// each user's last history row, spec §2.4), the eval forward (no dropout) without anything a
/// backward would need. Not thread-safe (scratch buffers are reused): callers serialise.
protocol BatchedEncoder: AnyObject {
    /// The arithmetic the products really use (bf16 falls back to f32 without the CPU feature).
    var precision: InferencePrecision { get }
    func userVectors(_ sequences: [BatchedSequence], profile: OpProfile?) -> [Float]
}

/// The batched encoder of a loaded model (HSTU or SASRec) on the CPU backend.
func makeBatchedEncoder(_ model: any SequentialRecommender, precision: InferencePrecision) -> any BatchedEncoder {
    switch model.config.kind {
    case .hstu: return BatchedHSTU(model, precision: precision)
    case .sasrec: return BatchedSASRec(model, precision: precision)
    }
}

/// The jagged layout of a batch: sequence b owns rows offsets[b] ..< offsets[b + 1] of every
/// (T, ·) activation, T = Σ L_b (no padding).
struct JaggedRows {
    let offsets: [Int]
    var total: Int { offsets.last! }
    var count: Int { offsets.count - 1 }
    func length(_ b: Int) -> Int { offsets[b + 1] - offsets[b] }
    /// The last row of sequence b (its user-vector row).
    func last(_ b: Int) -> Int { offsets[b + 1] - 1 }

    init(_ sequences: [BatchedSequence]) {
        var o = [0]
        o.reserveCapacity(sequences.count + 1)
        for s in sequences { o.append(o.last! + s.ids.count) }
        offsets = o
    }
}

/// Reusable, growable, 64-byte aligned host buffers by name (contents are NOT cleared between
/// uses: every user overwrites what it reads).
final class ScratchBuffers {
    private var buffers: [String: (pointer: UnsafeMutableRawPointer, bytes: Int)] = [:]

    func floats(_ name: String, _ count: Int) -> UnsafeMutablePointer<Float> {
        raw(name, 4 * count).bindMemory(to: Float.self, capacity: count)
    }

    func int64s(_ name: String, _ count: Int) -> UnsafeMutablePointer<Int64> {
        raw(name, 8 * count).bindMemory(to: Int64.self, capacity: count)
    }

    /// A tensor view of a float buffer (for backend calls that take tensors).
    func tensor(_ name: String, _ shape: [Int], dtype: DType = .f32) -> Tensor {
        let count = shape.reduce(1, *), bytes = max(count * dtype.size, 64)
        let p = raw(name, bytes)
        return Tensor(storage: Storage(address: p, byteCount: bytes, device: .cpu, release: nil), shape: shape, dtype: dtype)
    }

    private func raw(_ name: String, _ bytes: Int) -> UnsafeMutableRawPointer {
        if let b = buffers[name], b.bytes >= bytes { return b.pointer }
        buffers[name]?.pointer.deallocate()
        let size = max(64, bytes + bytes / 4)   // 25% headroom: batch sizes vary
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        buffers[name] = (p, size)
        return p
    }

    deinit { for b in buffers.values { b.pointer.deallocate() } }
}

/// Per-op wall time of a forward (the `gr bench serving --filter forward` breakdown): ms summed
/// over layers, by op name, in the order the ops first ran.
public final class OpProfile {
    public private(set) var names: [String] = []
    public private(set) var ms: [String: Double] = [:]

    public init() {}

    @inline(__always)
    func time<R>(_ name: String, _ body: () -> R) -> R {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
        if ms[name] == nil { names.append(name) }
        ms[name, default: 0] += dt
        return r
    }

    public var total: Double { ms.values.reduce(0, +) }
}

extension Optional where Wrapped == OpProfile {
    /// Runs `body`, timed under `name` when profiling.
    @inline(__always)
    func time<R>(_ name: String, _ body: () -> R) -> R {
        switch self {
        case .some(let p): return p.time(name, body)
        case .none: return body()
        }
    }
}
