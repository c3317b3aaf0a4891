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
/// - Thread safety: calls may come from any thread, concurrently (`allowsConcurrentCalls`): the
///   batched forward of queries without a `userKey` borrows its own scratch buffers, so concurrent
///   `recommend` calls run in parallel (the server's independent single-threaded workers, each
///   inside `Parallel.inline`); the K/V cache paths (`userKey`, `score`) and the reference forward
///   are serialised by a lock. A call outside `Parallel.inline` uses every core inside.
public final class Recommender: RecommendationEngine, @unchecked Sendable {
    public let modelID: String
    public var maxHistory: Int { config.maxSequenceLength }
    public let maxItemId: Int
    public var corpusSize: Int { index.count }

    public let model: any SequentialRecommender
    public let config: ModelConfig
    /// Exact top-K over the corpus items' L2-normalised vectors.
    public let index: ItemIndex
    /// The same search on a device backend (`DeviceRetrieval`), used instead of `index` when set.
    public let deviceIndex: DeviceItemIndex?
    /// (maxItemId + 1, D) L2-normalised item vectors (row = id).
    let itemVectors: [Float]
    let store: SequenceStore?
    /// The eval forward on new tokens against cached keys/values (cache, M-FALCON).
    let encoder: any IncrementalEncoder
    /// Per-user K/V state of queries with a `userKey`.
    public let cache: UserStateCache
    /// The batched serving forward of queries without a `userKey` (docs/inference.md).
    let batched: any BatchedEncoder
    /// Arithmetic of the batched forward's layer products as asked for (`--precision`).
    public let precision: InferencePrecision
    /// The arithmetic really used: bf16 only on a CPU with AVX-512 BF16 (`BF16GEMM.available`),
    /// else f32.
    public var effectivePrecision: InferencePrecision { batched.precision }
    let lock = NSLock()

    /// `dataDirectory` (a `gr data prepare` store) is optional: titles and the corpus come from it
    /// when given (its max item id must match the checkpoint's); otherwise the corpus is
    /// 1...maxItemId and there are no titles. `cacheCapacity`: users kept in the K/V cache (also
    /// bounded by `cacheBytes`).
    public static func load(checkpoint: String, dataDirectory: String?, cacheCapacity: Int = 10_000,
                            cacheBytes: Int = UserStateCache.defaultMaxBytes,
                            precision: InferencePrecision = .f32,
                            deviceRetrieval: DeviceRetrieval? = nil) throws -> Recommender {
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
                           cacheCapacity: cacheCapacity, cacheBytes: cacheBytes, precision: precision,
                           deviceRetrieval: deviceRetrieval)
    }

    /// A recommender over an in-memory model (tests, benchmarks). `corpus` nil = 1...maxItemId.
    public init(model: any SequentialRecommender, modelID: String, store: SequenceStore? = nil, corpus: [Int32]? = nil,
                cacheCapacity: Int = 10_000, cacheBytes: Int = UserStateCache.defaultMaxBytes,
                precision: InferencePrecision = .f32, deviceRetrieval: DeviceRetrieval? = nil) {
        precondition(model.backend.device == .cpu, "Recommender runs on the CPU backend")
        self.precision = precision
        batched = makeBatchedEncoder(model, precision: precision)
        self.model = model
        self.config = model.config
        self.modelID = modelID
        self.store = store
        encoder = makeIncrementalEncoder(model)
        cache = UserStateCache(capacity: cacheCapacity, maxBytes: cacheBytes)
        let vectors = model.itemEmbeddings()
        let rows = vectors.shape[0], d = vectors.shape[1]
        maxItemId = rows - 1
        itemVectors = Array(UnsafeBufferPointer(start: vectors.floats, count: rows * d))
        let ids = corpus ?? (1...Int32(rows - 1)).map { $0 }
        index = ItemIndex(ids: ids, table: vectors.floats, tableRows: rows, dim: d)
        deviceIndex = deviceRetrieval.flatMap { r in
            ids.count >= r.minimumItems
                ? DeviceItemIndex(ids: ids, table: vectors.floats, tableRows: rows, dim: d, retrieval: r) : nil
        }
    }

    /// Where top-K runs: "cpu (int8)" (the kernel of `index`) or "device (<backend name>)".
    public var retrievalDescription: String {
        deviceIndex.map { "device (\($0.backend.name))" } ?? "cpu (\(index.kernel.rawValue))"
    }

    /// Top-k per query on the device index when there is one, else on `index`.
    func search(queries: [Float], k: Int, excluded: [[Int32]]) -> [ItemIndex.Result] {
        deviceIndex?.search(queries: queries, k: k, excluded: excluded) ?? index.search(queries: queries, k: k, excluded: excluded)
    }

    public func title(of item: Int32) -> String? { store?.title(ofItem: item) }

    public var allowsConcurrentCalls: Bool { true }

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
        var sequence: BatchedSequence { BatchedSequence(ids: ids, timestamps: timestamps, targetTimestamp: targetTimestamp) }
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

    /// (B, D) user vectors of `windows`: one batched serving forward (`BatchedEncoder`).
    func userVectors(_ windows: [Window], profile: OpProfile? = nil) -> [Float] {
        if windows.isEmpty { return [] }
        return batched.userVectors(windows.map(\.sequence), profile: profile)
    }

    /// (B, D) user vectors of `windows` through the training model's eval forward
    /// (`userEmbeddings`, padded input): the reference of the batched forward (tests, benchmarks).
    func referenceUserVectors(_ windows: [Window]) -> [Float] {
        if windows.isEmpty { return [] }
        lock.lock(); defer { lock.unlock() }
        let u = model.userEmbeddings(modelInput(windows))
        return Array(UnsafeBufferPointer(start: u.floats, count: u.count))
    }

    /// The (B, D) L2-normalised user vectors of histories (newest `maxHistory` events kept; nil
    /// timestamps = zeros), no validation: `reference` false = the batched serving forward, true =
    /// the training model's eval forward. With `profile`, the batched forward's per-op wall time is
    /// added to it (benchmarks, tests).
    public func userVectors(histories: [[Int32]], timestamps: [[Int64]?], reference: Bool = false,
                            profile: OpProfile? = nil) -> [Float] {
        precondition(histories.count == timestamps.count, "userVectors: \(histories.count) histories, \(timestamps.count) timestamps")
        let windows = zip(histories, timestamps).map { window($0, $1) }
        return reference ? referenceUserVectors(windows) : userVectors(windows, profile: profile)
    }

    // MARK: recommend

    /// Queries without a `userKey` share one batched eval forward; each query with a key goes
    /// through its cached state (`userState`).
    public func recommend(_ batch: [RecommendQuery]) throws -> [Recommendation] {
        for q in batch { try validate(q) }
        if batch.isEmpty { return [] }
        let d = config.itemDim
        let windows = batch.map { window($0.history, $0.timestamps) }
        let plain = batch.indices.filter { batch[$0].userKey == nil }
        let batched = userVectors(plain.map { windows[$0] })
        var users = [Float](repeating: 0, count: batch.count * d)
        for (r, i) in plain.enumerated() { users.replaceSubrange(i * d ..< (i + 1) * d, with: batched[r * d ..< (r + 1) * d]) }
        for (i, q) in batch.enumerated() {
            guard let key = q.userKey else { continue }
            lock.lock()
            let state = userState(windows[i], key: key)
            lock.unlock()
            users.replaceSubrange(i * d ..< (i + 1) * d, with: state.userVector)
        }
        let k = batch.map(\.k).max()!
        let results = search(queries: users, k: k, excluded: batch.map { $0.excludeSeen ? $0.history : [] })
        return zip(batch, results).map { q, r in
            Recommendation(items: Array(r.ids.prefix(q.k)), scores: Array(r.scores.prefix(q.k)))
        }
    }

    // MARK: cached state

    /// The L2-normalised user vector (D) of one history, through the K/V cache when `userKey` is
    /// given, else one eval forward (benchmarks, diagnostics; no validation).
    public func userVector(history: [Int32], timestamps: [Int64]?, userKey: String?) -> [Float] {
        let w = window(history, timestamps)
        guard let userKey else { return userVectors([w]) }
        lock.lock(); defer { lock.unlock() }
        return userState(w, key: userKey).userVector
    }

    /// The K/V state of `w` (call with `lock` held). With a `key` whose cached window is a prefix
    /// of `w` (same ids and timestamps at the same positions), only the new events run: for HSTU
    /// also the cached last row, whose query used the target-slot timestamp and now uses the next
    /// event's (spec §2.3). Equal windows reuse the cached user vector. Anything else (another
    /// user, edited history, a window that slid past `maxHistory`) recomputes the whole window.
    /// The result is stored under `key`.
    func userState(_ w: Window, key: String?) -> KVState {
        var state = key.flatMap { cache.take($0) } ?? encoder.emptyState()
        let r = state.rows, l = w.ids.count
        let extendsCache = r > 0 && r <= l && state.ids[...] == w.ids[0 ..< r] && state.timestamps[...] == w.timestamps[0 ..< r]
        if !(extendsCache && r == l && !state.userVector.isEmpty) {
            let keep = extendsCache ? (config.kind == .hstu ? r - 1 : r) : 0
            if keep < r { state.truncate(to: keep) }
            if !extendsCache { state = encoder.emptyState() }
            let rows = keep ..< l
            let tokens = NewTokens(ids: Array(w.ids[rows]), positions: Array(rows), keyTimestamps: Array(w.timestamps[rows]),
                                   queryTimestamps: rows.map { $0 + 1 < l ? w.timestamps[$0 + 1] : w.targetTimestamp })
            _ = encoder.forward(tokens, state: &state, mode: .append)
        }
        if let key { cache.put(key, state) }
        return state
    }

    // MARK: score

    /// Candidates per forward pass of `score` (M-FALCON's micro-batch b_m, spec §8.1).
    public static let scoreMicroBatch = 64

    /// M-FALCON (spec §8.1). The history's per-layer keys/values are computed once (or taken from
    /// the cache with a `userKey`); the candidates then run `scoreMicroBatch` at a time as tokens
    /// at position L (right after the history) that attend to the history and themselves only
    /// (`AttentionMode.candidates`), with the target-slot timestamp. Candidate c's score is the
    /// L2-normalised output at its token — the model's vector at position L when c is the item
    /// there — dotted with c's L2-normalised item vector: exactly the score of c from the separate
    /// sequence history + c, in one pass per micro-batch. (The retrieval score of c, what
    /// `recommend` ranks by, is the user vector at L − 1 dotted with c's vector.)
    public func score(_ batch: [ScoreQuery]) throws -> [[Float]] {
        for q in batch { try validate(q) }
        let d = config.itemDim
        return batch.map { q in
            let w = window(q.history, q.timestamps)
            lock.lock(); defer { lock.unlock() }
            var state = userState(w, key: q.userKey)
            var scores: [Float] = []
            scores.reserveCapacity(q.candidates.count)
            for start in stride(from: 0, to: q.candidates.count, by: Self.scoreMicroBatch) {
                let chunk = Array(q.candidates[start ..< min(q.candidates.count, start + Self.scoreMicroBatch)])
                let same = [Int64](repeating: w.targetTimestamp, count: chunk.count)
                let tokens = NewTokens(ids: chunk, positions: [Int](repeating: w.ids.count, count: chunk.count),
                                       keyTimestamps: same, queryTimestamps: same)
                let u = encoder.forward(tokens, state: &state, mode: .candidates)
                for (r, c) in chunk.enumerated() { scores.append(dot(u, r * d, Int(c) * d, d)) }
            }
            return scores
        }
    }

    /// The reference for `score` (tests): each candidate c in its own sequence history + c (target
    /// slot = last history timestamp), batched `scoreMicroBatch` sequences per eval forward; the
    /// L2-normalised output at c's position dotted with c's L2-normalised item vector.
    public func separateScores(_ q: ScoreQuery) -> [Float] {
        let w = window(q.history, q.timestamps), d = config.itemDim
        var scores: [Float] = []
        for start in stride(from: 0, to: q.candidates.count, by: Self.scoreMicroBatch) {
            let chunk = q.candidates[start ..< min(q.candidates.count, start + Self.scoreMicroBatch)]
            let u = userVectors(chunk.map { c in Window(ids: w.ids + [c], timestamps: w.timestamps + [w.targetTimestamp]) })
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
