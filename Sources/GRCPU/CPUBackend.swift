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

    public func fill(_ t: Tensor, _ value: Float) { t.floats.update(repeating: value, count: t.count) }

    public func copy(_ src: Tensor, to dst: Tensor) {
        precondition(src.count == dst.count && src.dtype == dst.dtype, "copy \(src.shape) to \(dst.shape)")
        dst.rawPointer.copyMemory(from: src.rawPointer, byteCount: src.count * src.dtype.size)
    }

    public func synchronize() {}
}
