import Foundation
import GRCore
import GRData
import GRModels

/// Training batches assembled on the device (`BatchAssemblyOps`): the store's events are made
/// resident once, and a step uploads only its users' window coordinates (3·B integers); the
/// padded ids, timestamps, positions, positives and row ids are built by one kernel, bit for bit
/// the tensors the host path makes from `BatchSampler.batch` (checked by `gr cuda train-parity`).
/// The user order is the sampler's (the same Philox shuffle on the host, B ints per batch).
/// Off with `GR_DEVICE_BATCHES=0`, with data parallelism, on the CPU backend, and for stores
/// holding item id 0 (the device path supervises every position).
public final class DeviceBatchSource {
    /// False when the environment sets `GR_DEVICE_BATCHES=0`.
    public static let enabledByEnvironment = EnvironmentSwitch.value("GR_DEVICE_BATCHES", default: true)

    let assembler: BatchAssemblyOps
    let events: AnyObject
    let store: SequenceStore
    let view: SampleView
    let maxLength: Int
    let paddedWidth: Int
    /// B·N padded encoder rows (SASRec) instead of jagged ones (HSTU).
    let dense: Bool
    /// U + 1 offsets of each user's first event in the concatenated events.
    let userStart: [Int]

    /// nil when `backend` cannot assemble batches (see the type's doc).
    public init?(store: SequenceStore, backend: any Backend, view: SampleView, maxLength: Int, paddedWidth: Int,
                 dense: Bool) {
        guard backend.device != .cpu, let assembler = backend as? BatchAssemblyOps else { return nil }
        var start = [Int](repeating: 0, count: store.userCount + 1)
        for u in 0..<store.userCount { start[u + 1] = start[u] + store.count(u) }
        // The store's arrays are one mapping each; copy them into one array if they are not contiguous.
        let total = start[store.userCount]
        var items = [Int32](), times = [Int64]()
        items.reserveCapacity(total); times.reserveCapacity(total)
        for u in 0..<store.userCount { items.append(contentsOf: store.items(u)); times.append(contentsOf: store.timestamps(u)) }
        guard !items.contains(0) else { return nil }
        self.assembler = assembler
        self.events = items.withUnsafeBufferPointer { i in
            times.withUnsafeBufferPointer { t in assembler.residentEvents(items: i, timestamps: t) }
        }
        self.store = store
        self.view = view
        self.maxLength = maxLength
        self.paddedWidth = paddedWidth
        self.dense = dense
        self.userStart = start
    }

    /// The training input of `users` (store user indices, each with ≥ view.minimumEvents events):
    /// the same windows as `BatchSampler.makeBatch`, assembled on the device.
    public func input(users: [Int]) -> ModelInput {
        var lengths = [Int](), first = [Int]()
        lengths.reserveCapacity(users.count); first.reserveCapacity(users.count)
        for u in users {
            let n = store.count(u) - view.ignoreLastN
            precondition(n >= 2, "user \(u) has \(store.count(u)) events, needs \(view.minimumEvents)")
            let t = n - 1, s = max(0, t - maxLength)
            lengths.append(t - s)
            first.append(userStart[u] + s)
        }
        let layout = JaggedLayout(lengths: lengths)
        let d = assembler.assembleTrainingBatch(events: events, first: first, layout: layout, paddedWidth: paddedWidth,
                                                dense: dense)
        return ModelInput(layout: layout, paddedWidth: paddedWidth, device: d)
    }
}

extension BatchSampler {
    /// The store user indices of batch `index` of epoch `epoch` (what `batch(_:epoch:)` builds).
    func users(_ index: Int, epoch: Int) -> [Int] {
        let order = order(epoch: epoch)
        return Array(order[index * batchSize ..< min(order.count, (index + 1) * batchSize)])
    }
}
