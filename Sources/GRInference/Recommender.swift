import Foundation
import GRCore
import GRCPU
import GRData
import GRModels
import GRTrain

/// Errors loading a model for serving; each names the file and what is wrong.
public struct RecommenderLoadError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// The serving engine: a checkpoint's model on the CPU backend, the exact retrieval index over its
/// L2-normalised item vectors, M-FALCON candidate scoring and the per-user K/V cache
/// (docs/inference.md).
///
/// - Forward: the models' eval forward (no dropout, spec §2.4 / §3), batched over the queries of
///   one call (`SequentialRecommender.userEmbeddings`), so the user vectors are those of `gr eval`.
/// - Input of a query with history h (newest `maxHistory` kept, length L): ids h, timestamps t (or
///   zeros), and in the target slot L (spec §1.4) the last history timestamp.
/// - Ranking universe: the data directory's corpus when given, else every id 1...maxItemId
///   (checkpoints store maxItemId, not the corpus).
/// - Thread safety: calls may come from any thread; forwards are serialised by a lock (each uses
///   every core inside).
public final class Recommender: RecommendationEngine, @unchecked Sendable {
    public let modelID: String
    public var maxHistory: Int { config.maxSequenceLength }
    public let maxItemId: Int
    public var corpusSize: Int { index.count }

    public let model: any SequentialRecommender
    public let config: ModelConfig
    /// Exact top-K over the corpus items' L2-normalised vectors.
    public let index: ItemIndex
    /// (maxItemId + 1, D) L2-normalised item vectors (row = id).
    let itemVectors: [Float]
    let store: SequenceStore?
    let lock = NSLock()

    /// `dataDirectory` (a `gr data prepare` store) is optional: titles and the corpus come from it
    /// when given (its max item id must match the checkpoint's); otherwise the corpus is
    /// 1...maxItemId and there are no titles. `cacheCapacity`: users kept in the K/V cache.
    public static func load(checkpoint: String, dataDirectory: String?, cacheCapacity: Int = 10_000) throws -> Recommender {
        guard FileManager.default.fileExists(atPath: checkpoint) else {
            throw RecommenderLoadError(path: checkpoint, reason: "no such checkpoint file")
        }
        let backend = CPUBackend()
        let store = try dataDirectory.map { try SequenceStore.open(directory: $0) }
        let (model, _): (any SequentialRecommender, Checkpoint)
        if let store {
            (model, _) = try loadModel(checkpoint: checkpoint, store: store, backend: backend)
        } else {
            (model, _) = try loadModel(checkpoint: checkpoint, backend: backend)
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: checkpoint), options: .alwaysMapped)
        let id = URL(fileURLWithPath: checkpoint).lastPathComponent + "@" + SHA256.hex(bytes).prefix(12)
        return Recommender(model: model, modelID: id, store: store, corpus: store?.corpus,
                           cacheCapacity: cacheCapacity)
    }

    /// A recommender over an in-memory model (tests, benchmarks). `corpus` nil = 1...maxItemId.
    public init(model: any SequentialRecommender, modelID: String, store: SequenceStore? = nil, corpus: [Int32]? = nil,
                cacheCapacity: Int = 10_000) {
        precondition(model.backend.device == .cpu, "Recommender runs on the CPU backend")
        self.model = model
        self.config = model.config
        self.modelID = modelID
        self.store = store
        let vectors = model.itemEmbeddings()
        let rows = vectors.shape[0], d = vectors.shape[1]
        maxItemId = rows - 1
        itemVectors = Array(UnsafeBufferPointer(start: vectors.floats, count: rows * d))
        let ids = corpus ?? (1...Int32(rows - 1)).map { $0 }
        index = ItemIndex(ids: ids, table: vectors.floats, tableRows: rows, dim: d)
    }

    public func title(of item: Int32) -> String? { store?.title(ofItem: item) }

    // MARK: validation

    public func validate(_ q: RecommendQuery) throws {
        try validateHistory(q.history, q.timestamps)
        guard q.k >= 1 && q.k <= corpusSize else {
            throw InferenceError(field: "k", reason: "must be in 1...\(corpusSize) (the corpus size), got \(q.k)")
        }
    }

    public func validate(_ q: ScoreQuery) throws {
        try validateHistory(q.history, q.timestamps)
        guard !q.candidates.isEmpty else { throw InferenceError(field: "candidates", reason: "must not be empty") }
        for (i, id) in q.candidates.enumerated() where id < 1 || Int(id) > maxItemId {
            throw InferenceError(field: "candidates[\(i)]", reason: "item id \(id) is not in 1...\(maxItemId)")
        }
    }

    func validateHistory(_ history: [Int32], _ timestamps: [Int64]?) throws {
        guard !history.isEmpty else { throw InferenceError(field: "history", reason: "must not be empty") }
        for (i, id) in history.enumerated() where id < 1 || Int(id) > maxItemId {
            throw InferenceError(field: "history[\(i)]", reason: "item id \(id) is not in 1...\(maxItemId)")
        }
        if let timestamps, timestamps.count != history.count {
            throw InferenceError(field: "timestamps",
                                 reason: "\(timestamps.count) timestamps for \(history.count) history items")
        }
    }

    // MARK: model input

    /// The model's view of one history: the newest `maxHistory` events, timestamps (zeros when
    /// nil), and the target-slot timestamp (the last history timestamp).
    struct Window {
        var ids: [Int32]
        var timestamps: [Int64]
        var targetTimestamp: Int64 { timestamps.last ?? 0 }
    }

    func window(_ history: [Int32], _ timestamps: [Int64]?) -> Window {
        let drop = max(0, history.count - maxHistory)
        let ts = timestamps ?? [Int64](repeating: 0, count: history.count)
        return Window(ids: Array(history.dropFirst(drop)), timestamps: Array(ts.dropFirst(drop)))
    }

    /// The padded (B, N) eval input of `windows` (spec §1.4): history at 0..<L, no target id,
    /// target timestamp at L.
    func modelInput(_ windows: [Window]) -> ModelInput {
        let n = config.paddedWidth, b = windows.count
        var ids = [Int32](repeating: 0, count: b * n), ts = [Int64](repeating: 0, count: b * n)
        for (r, w) in windows.enumerated() {
            for (i, id) in w.ids.enumerated() { ids[r * n + i] = id; ts[r * n + i] = w.timestamps[i] }
            ts[r * n + w.ids.count] = w.targetTimestamp
        }
        return ModelInput(layout: JaggedLayout(lengths: windows.map(\.ids.count)), paddedWidth: n, ids: ids,
                          timestamps: ts)
    }

    /// (B, D) user vectors of `windows`, one batched eval forward.
    func userVectors(_ windows: [Window]) -> [Float] {
        if windows.isEmpty { return [] }
        lock.lock(); defer { lock.unlock() }
        let u = model.userEmbeddings(modelInput(windows))
        return Array(UnsafeBufferPointer(start: u.floats, count: u.count))
    }

    // MARK: recommend

    public func recommend(_ batch: [RecommendQuery]) throws -> [Recommendation] {
        for q in batch { try validate(q) }
        if batch.isEmpty { return [] }
        let windows = batch.map { window($0.history, $0.timestamps) }
        let users = userVectors(windows)
        let k = batch.map(\.k).max()!
        let results = index.search(queries: users, k: k, excluded: batch.map { $0.excludeSeen ? $0.history : [] })
        return zip(batch, results).map { q, r in
            Recommendation(items: Array(r.ids.prefix(q.k)), scores: Array(r.scores.prefix(q.k)))
        }
    }

    // MARK: score

    /// Candidates per forward pass of `score` (M-FALCON's micro-batch b_m, spec §8.1).
    public static let scoreMicroBatch = 64

    public func score(_ batch: [ScoreQuery]) throws -> [[Float]] {
        for q in batch { try validate(q) }
        return batch.map { q in separateScores(window(q.history, q.timestamps), candidates: q.candidates) }
    }

    /// The score of each candidate c from its own sequence (history + c): the L2-normalised output
    /// at c's position, dotted with c's L2-normalised item vector. Candidates are batched
    /// `scoreMicroBatch` sequences per forward.
    func separateScores(_ w: Window, candidates: [Int32]) -> [Float] {
        var scores: [Float] = []
        scores.reserveCapacity(candidates.count)
        let d = config.itemDim
        for start in stride(from: 0, to: candidates.count, by: Self.scoreMicroBatch) {
            let chunk = candidates[start ..< min(candidates.count, start + Self.scoreMicroBatch)]
            let windows = chunk.map { c in
                Window(ids: w.ids + [c], timestamps: w.timestamps + [w.targetTimestamp])
            }
            let u = userVectors(windows)
            for (r, c) in chunk.enumerated() { scores.append(dot(u, r * d, Int(c) * d, d)) }
        }
        return scores
    }

    /// u[uOffset..<+d] · itemVectors[itemOffset..<+d].
    func dot(_ u: [Float], _ uOffset: Int, _ itemOffset: Int, _ d: Int) -> Float {
        var s: Float = 0
        for i in 0..<d { s += u[uOffset + i] * itemVectors[itemOffset + i] }
        return s
    }
}
