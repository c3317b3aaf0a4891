/// A dense, contiguous, row-major view into a `Storage`.
///
/// Shapes use the project's letters: B batch, N padded width, T total tokens of a jagged batch,
/// D embedding dim, H heads, Dqk / Dv per-head dims, R negatives, V item vocabulary.
public struct Tensor: @unchecked Sendable {
    public let storage: Storage
    /// Offset into `storage`, in elements of `dtype`.
    public let offset: Int
    public let shape: [Int]
    public let dtype: DType

    public init(storage: Storage, offset: Int = 0, shape: [Int], dtype: DType) {
        precondition((offset + shape.reduce(1, *)) * dtype.size <= max(storage.byteCount, 0) || shape.reduce(1, *) == 0,
                     "tensor view \(shape) at \(offset) exceeds its storage of \(storage.byteCount) bytes")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.dtype = dtype
    }

    /// A zero-filled host tensor.
    public init(zeros shape: [Int], dtype: DType = .f32) {
        let count = shape.reduce(1, *)
        self.init(storage: .host(byteCount: count * dtype.size), shape: shape, dtype: dtype)
    }

    /// A host f32 tensor holding `values`.
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(zeros: shape, dtype: .f32)
        values.withUnsafeBufferPointer { floats.update(from: $0.baseAddress!, count: values.count) }
    }

    public var count: Int { shape.reduce(1, *) }
    public var device: Device { storage.device }

    /// A contiguous sub-view: `count(shape)` elements starting `elementOffset` elements in.
    public func view(_ elementOffset: Int, _ shape: [Int]) -> Tensor {
        Tensor(storage: storage, offset: offset + elementOffset, shape: shape, dtype: dtype)
    }

    /// The same elements under another shape.
    public func reshaped(_ shape: [Int]) -> Tensor {
        precondition(shape.reduce(1, *) == count, "cannot reshape \(self.shape) to \(shape)")
        return Tensor(storage: storage, offset: offset, shape: shape, dtype: dtype)
    }

    public var rawPointer: UnsafeMutableRawPointer { storage.address + offset * dtype.size }

    /// Host pointers; only valid for CPU tensors of the matching dtype.
    public var floats: UnsafeMutablePointer<Float> {
        precondition(device == .cpu && dtype == .f32, "floats of a \(device) \(dtype) tensor")
        return rawPointer.assumingMemoryBound(to: Float.self)
    }
    public var doubles: UnsafeMutablePointer<Double> {
        precondition(device == .cpu && dtype == .f64, "doubles of a \(device) \(dtype) tensor")
        return rawPointer.assumingMemoryBound(to: Double.self)
    }
    public var int32s: UnsafeMutablePointer<Int32> {
        precondition(device == .cpu && dtype == .i32, "int32s of a \(device) \(dtype) tensor")
        return rawPointer.assumingMemoryBound(to: Int32.self)
    }
    public var int64s: UnsafeMutablePointer<Int64> {
        precondition(device == .cpu && dtype == .i64, "int64s of a \(device) \(dtype) tensor")
        return rawPointer.assumingMemoryBound(to: Int64.self)
    }

    /// Copies a host f32 tensor out as an array.
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: floats, count: count)) }
}
