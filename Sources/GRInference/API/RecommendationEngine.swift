/// What a server needs from a model (issue #6, serving contract). `Recommender` is the real one;
/// tests of a server may use a double.
public protocol RecommendationEngine: AnyObject, Sendable {
    /// "<checkpoint file name>@<first 12 hex digits of the file's SHA-256>".
    var modelID: String { get }
    /// The model's max sequence length: longer histories keep their newest `maxHistory` events.
    var maxHistory: Int { get }
    /// Largest valid item id (ids are 1...maxItemId; 0 is padding).
    var maxItemId: Int { get }
    /// Number of rankable items (the ranking universe, spec §1.5).
    var corpusSize: Int { get }
    /// Throws `InferenceError` for a query that `recommend` would reject; cheap, no forward.
    func validate(_ q: RecommendQuery) throws
    func validate(_ q: ScoreQuery) throws
    /// True when `recommend` and `score` may be called from several threads at once (the server
    /// then runs independent workers, each call single-threaded inside `Parallel.inline`); false
    /// (the default): one call at a time, which may use all cores.
    var allowsConcurrentCalls: Bool { get }
    /// One batched forward for all queries (may use all cores unless called inside `Parallel.inline`).
    /// Throws `InferenceError` (the first invalid query's field, prefixed by nothing: one batch
    /// holds independent requests, so callers validate each before batching).
    func recommend(_ batch: [RecommendQuery]) throws -> [Recommendation]
    /// M-FALCON (spec §8.1): candidates appended to the history in micro-batches with a mask that
    /// lets each candidate see the history and itself only; one score per candidate, same order.
    func score(_ batch: [ScoreQuery]) throws -> [[Float]]
    /// The item's title when the data directory has titles.
    func title(of item: Int32) -> String?
}

extension RecommendationEngine {
    public var allowsConcurrentCalls: Bool { false }
}
