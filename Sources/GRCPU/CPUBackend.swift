import GRCore

/// The pure-Swift CPU backend: SIMD kernels, multi-threaded with `Parallel`.
/// Each family of ops lives in its own `CPUBackend+<Family>.swift`.
public final class CPUBackend: Backend {
    public init() {}

    public var name: String { "cpu (\(Parallel.threads) threads)" }
    public var device: Device { .cpu }

    public func zeros(_ shape: [Int], _ dtype: DType) -> Tensor { Tensor(zeros: shape, dtype: dtype) }

    public func upload(_ values: [Float], shape: [Int]) -> Tensor { Tensor(values, shape: shape) }

    public func upload(_ values: [Int32], shape: [Int]) -> Tensor {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        let t = Tensor(zeros: shape, dtype: .i32)
        values.withUnsafeBufferPointer { t.int32s.update(from: $0.baseAddress!, count: values.count) }
        return t
    }

    public func download(_ t: Tensor) -> [Float] { t.toArray() }

    /// Elements per thread below which `fill`/`copy` stay on one thread (a memset of 64 KiB costs
    /// about as much as waking a worker).
    static let bulkMinChunk = 1 << 14

    /// Split over threads by contiguous ranges (large per-step gradient and scratch buffers).
    public func fill(_ t: Tensor, _ value: Float) {
        let p = t.floats
        Parallel.forRanges(t.count, minChunk: Self.bulkMinChunk) { r in
            (p + r.lowerBound).update(repeating: value, count: r.count)
        }
    }

    public func copy(_ src: Tensor, to dst: Tensor) {
        precondition(src.count == dst.count && src.dtype == dst.dtype, "copy \(src.shape) to \(dst.shape)")
        let size = src.dtype.size, from = src.rawPointer, to = dst.rawPointer
        Parallel.forRanges(src.count, minChunk: Self.bulkMinChunk) { r in
            (to + r.lowerBound * size).copyMemory(from: from + r.lowerBound * size, byteCount: r.count * size)
        }
    }

    public func synchronize() {}
}
