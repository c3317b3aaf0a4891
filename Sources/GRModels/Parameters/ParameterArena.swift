import GRCore

/// All parameters of a model in one flat f32 allocation, carved into named views (llm.c style),
/// and their gradients in a second allocation with the same layout. Checkpoints, AdamW and a
/// gradient all-reduce act on `values` / `grads` as single buffers.
///
/// Names are the reference's PyTorch `state_dict` keys (e.g. `_hstu._attention_layers.0._uvqk`),
/// shapes the reference's shapes (PyTorch layouts: Linear `[out, in]`, Conv1d `[out, in, 1]`;
/// HSTU `_uvqk` `[D, 2·H·Dv + 2·H·Dqk]`), so a checkpoint loads into PyTorch unchanged.
public final class ParameterArena {
    /// All parameter values, flat (P total floats).
    public let values: Tensor
    /// All gradients, flat, same layout as `values`.
    public let grads: Tensor
    /// Parameters in registration order: name, shape, offset (in floats) into `values` / `grads`.
    public var entries: [(name: String, shape: [Int], offset: Int)]
    private var index: [String: Int]
    private let backend: any Backend

    /// Total number of parameters.
    public var count: Int { values.count }

    /// Lays out `specs` contiguously (each entry starts on a 16-float boundary so SIMD loads of a
    /// view stay aligned) and allocates zero-filled values and gradients on `backend`.
    public init(_ specs: [(name: String, shape: [Int])], backend: any Backend) {
        var entries: [(name: String, shape: [Int], offset: Int)] = []
        var index: [String: Int] = [:]
        var offset = 0
        for (name, shape) in specs {
            precondition(index[name] == nil, "duplicate parameter name \(name)")
            index[name] = entries.count
            entries.append((name, shape, offset))
            offset += (shape.reduce(1, *) + Self.alignment - 1) / Self.alignment * Self.alignment
        }
        self.entries = entries
        self.index = index
        self.backend = backend
        self.values = backend.zeros([offset], .f32)
        self.grads = backend.zeros([offset], .f32)
    }

    /// Floats each entry's offset is a multiple of (64 bytes).
    public static let alignment = 16

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func shape(_ name: String) -> [Int] { entries[position(name)].shape }

    /// The value view of parameter `name` (shape as in `entries`).
    public func value(_ name: String) -> Tensor {
        let e = entries[position(name)]
        return values.view(e.offset, e.shape)
    }

    /// The gradient view of parameter `name`.
    public func grad(_ name: String) -> Tensor {
        let e = entries[position(name)]
        return grads.view(e.offset, e.shape)
    }

    /// The order in which the model's backward makes gradients final, for starting a gradient
    /// all-reduce during the backward (data parallelism): `backwardStages[k]` names the parameters
    /// whose gradients no later op of the training step writes once backward stage k is done.
    /// Set by the model; empty = unknown (every gradient is final only when `trainStep` returns).
    public var backwardStages: [[String]] = []
    /// Called by the model's `trainStep` with k right after backward stage k was queued (nil: no one
    /// listens). Set by the data-parallel step for the duration of one `trainStep`.
    public var backwardStageObserver: ((Int) -> Void)? = nil

    /// The model calls this when backward stage `k` (of `backwardStages`) has been queued.
    public func backwardStageDone(_ k: Int) { backwardStageObserver?(k) }

    /// Sets every gradient (and the alignment padding) to zero.
    public func zeroGrads() { backend.fill(grads, 0) }

    /// Overwrites parameter `name` with host values (count must match).
    public func setValue(_ name: String, _ host: [Float]) {
        let v = value(name)
        precondition(host.count == v.count, "\(name): \(host.count) values for shape \(v.shape)")
        backend.copy(backend.upload(host, shape: v.shape), to: v)
    }

    private func position(_ name: String) -> Int {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        return i
    }
}
