import Foundation
import GRCore
import GRCPU
import GRData
import GRModels
import GRTrain

/// A tiny store plus a randomly initialised checkpoint for inference tests: `users` users over
/// items 1...`items` (item 7 missing from the corpus, to exercise a corpus ≠ 1...maxItemId),
/// 5–14 events each with increasing, irregular timestamps; titles "Item <id>".
struct InferenceFixture {
    let directory: URL
    let store: SequenceStore
    let checkpoint: String
    let config: TrainConfig

    static let corpusGap: Int32 = 7

    static func make(kind: ModelKind, users: Int = 12, items: Int = 40, maxLength: Int = 16,
                     extra: [String] = []) throws -> InferenceFixture {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-infer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let corpus = (1...Int32(items)).filter { $0 != corpusGap }
        var seqs: [[Int32]] = []
        for u in 0..<users {
            let n = 5 + (u * 7) % 10
            seqs.append((0..<n).map { corpus[(u * 11 + $0 * 3 + $0 * $0) % corpus.count] })
        }
        let events = seqs.reduce(0) { $0 + $1.count }
        let path = dir.appendingPathComponent("sequences.grstore").path
        let w = try SequenceStoreWriter(path: path, name: "infer", userCount: users, eventCount: events, corpus: corpus,
                                        titles: corpus.map { "Item \($0)" }, hasRatings: false)
        for (u, s) in seqs.enumerated() {
            let ts = (0..<s.count).map { Int64(1_000_000 + u * 50_000 + $0 * $0 * 7_919 + $0 * 61) }
            try w.append(userId: Int64(u + 1), items: s, timestamps: ts, ratings: [])
        }
        try w.finish()
        let store = try SequenceStore.open(directory: dir.path)
        var c = TrainConfig()
        try ConfigFile.applyOverrides(["kind=\(kind.rawValue)", "item_dim=16", "ffn_hidden=12", "dqk=4", "dv=6",
                                       "heads=2", "blocks=2", "max_sequence_length=\(maxLength)", "seed=11"] + extra,
                                      to: &c)
        let model = makeModel(c.modelConfig, maxItemId: store.maxItemId, corpus: store.corpus, backend: CPUBackend(),
                              seed: c.seed)
        // Random init has a tiny positional table; spread the attention weights so positions and
        // times matter in the outputs.
        let values = model.parameters.values
        var state: UInt64 = 99
        for e in model.parameters.entries where !e.name.contains("_item_emb") {
            let n = e.shape.reduce(1, *)
            for i in 0..<n {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                values.floats[e.offset + i] += Float(Int64(state >> 40) - (1 << 23)) / Float(1 << 23) * 0.3
            }
        }
        let ckpt = dir.appendingPathComponent("model.safetensors").path
        try Checkpoint(config: c, step: 0, epoch: 0, history: [], maxItemId: store.maxItemId)
            .write(to: ckpt, entries: model.parameters.entries, values: values, adamM: nil, adamV: nil)
        return InferenceFixture(directory: dir, store: store, checkpoint: ckpt, config: c)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// User u's events (ids, timestamps).
    func events(_ u: Int) -> ([Int32], [Int64]) { (Array(store.items(u)), Array(store.timestamps(u))) }
}
