import GRCore
import GRData
import GRModels

/// Rebuilds the model a checkpoint was trained with (its config is in the metadata) and loads its
/// parameters (AdamW state is not needed for inference and is not read).
public func loadModel(checkpoint path: String, store: SequenceStore,
                      backend: any Backend) throws -> (any SequentialRecommender, Checkpoint) {
    let (ckpt, file) = try Checkpoint.read(path: path)
    do { try ckpt.config.validate(source: path + " (metadata config)") } catch {
        throw CheckpointError(path, "\(error)")
    }
    guard ckpt.maxItemId == store.maxItemId else {
        throw CheckpointError(path, "trained with max item id \(ckpt.maxItemId), the data at \(store.path) has \(store.maxItemId)")
    }
    return (try loadModel(ckpt, file: file, corpus: store.corpus, backend: backend), ckpt)
}

/// Rebuilds a checkpoint's model without a data store (serving): the item table size comes from
/// the metadata's `max_item_id`; `corpus` (only used to draw training negatives) defaults to
/// 1...maxItemId.
public func loadModel(checkpoint path: String, corpus: [Int32]? = nil,
                      backend: any Backend) throws -> (any SequentialRecommender, Checkpoint) {
    let (ckpt, file) = try Checkpoint.read(path: path)
    do { try ckpt.config.validate(source: path + " (metadata config)") } catch {
        throw CheckpointError(path, "\(error)")
    }
    guard ckpt.maxItemId >= 1 else { throw CheckpointError(path, "metadata max_item_id is \(ckpt.maxItemId)") }
    let ids = corpus ?? (1...Int32(ckpt.maxItemId)).map { $0 }
    return (try loadModel(ckpt, file: file, corpus: ids, backend: backend), ckpt)
}

/// The model of `ckpt` with the parameters of `file`.
private func loadModel(_ ckpt: Checkpoint, file: SafeTensorsFile, corpus: [Int32],
                       backend: any Backend) throws -> any SequentialRecommender {
    let model = makeModel(ckpt.config.modelConfig, maxItemId: ckpt.maxItemId, corpus: corpus, backend: backend,
                          seed: ckpt.config.seed)
    let values = model.parameters.values
    if values.device == .cpu {
        try Checkpoint.load(file, entries: model.parameters.entries, values: values, adamM: nil, adamV: nil)
    } else {  // a device backend: load into host memory, then copy up
        let host = Tensor(zeros: values.shape)
        try Checkpoint.load(file, entries: model.parameters.entries, values: host, adamM: nil, adamV: nil)
        backend.copy(host, to: values)
    }
    return model
}
