import GRCore

/// Named activation and scratch buffers of a model, reused across steps (llm.c style). A buffer is
/// re-allocated only when a batch needs more elements than it holds (e.g. T grows), so steady-state
/// training allocates nothing.
final class Workspace {
    private var storage: [String: Tensor] = [:]
    private let backend: any Backend
    /// Set when training replays CUDA graphs that address these buffers (`StepSegments`): a buffer
    /// that grows keeps its old tensor alive here instead of freeing it.
    var retainsReplaced = false
    private var replaced: [Tensor] = []

    init(backend: any Backend) { self.backend = backend }

    /// A view of shape `shape` on buffer `name` (contents undefined: whatever the last user left).
    func tensor(_ name: String, _ shape: [Int], _ dtype: DType = .f32) -> Tensor {
        let count = shape.reduce(1, *)
        if let t = storage[name], t.count >= count, t.dtype == dtype { return t.view(0, shape) }
        let t = backend.zeros([max(count, 1)], dtype)
        if retainsReplaced, let old = storage[name] { replaced.append(old) }
        storage[name] = t
        return t.view(0, shape)
    }

    /// Total bytes held (for memory reports).
    var byteCount: Int { storage.values.reduce(0) { $0 + $1.count * $1.dtype.size } }
}
