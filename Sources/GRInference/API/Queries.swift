/// One top-K request: a user's history (oldest first) and what to return.
///
/// - `history`: item ids 1...maxItemId, oldest first. Longer than the model's `maxHistory`: only the
///   newest `maxHistory` events enter the model (as in training, spec §1.4); all of them are
///   excluded when `excludeSeen`.
/// - `timestamps`: unix seconds, one per history event. nil → every event at time 0, so every
///   HSTU time delta is 0 and falls in time bucket 0 (spec §2.3); SASRec ignores timestamps.
///   The "target" timestamp slot at index L (spec §1.4: the time of the item being predicted,
///   unknown when serving) is the last history timestamp.
/// - `k`: 1...corpusSize.
/// - `excludeSeen`: remove the history's items from the answer (like evaluation, spec §6.1).
/// - `userKey`: enables the per-user K/V cache (`UserStateCache`): a request whose history extends
///   the cached history of the same key runs only the new events through the model.
public struct RecommendQuery: Sendable, Equatable {
    public var history: [Int32]
    public var timestamps: [Int64]?
    public var k: Int
    public var excludeSeen: Bool
    public var userKey: String?

    public init(history: [Int32], timestamps: [Int64]? = nil, k: Int = 10, excludeSeen: Bool = true,
                userKey: String? = nil) {
        self.history = history
        self.timestamps = timestamps
        self.k = k
        self.excludeSeen = excludeSeen
        self.userKey = userKey
    }
}

/// One M-FALCON scoring request (spec §8.1): a history and the candidates to score against it.
/// `history`, `timestamps`, `userKey` as in `RecommendQuery`; `candidates`: item ids 1...maxItemId
/// (repeats allowed; each gets its own score).
public struct ScoreQuery: Sendable, Equatable {
    public var history: [Int32]
    public var timestamps: [Int64]?
    public var candidates: [Int32]
    public var userKey: String?

    public init(history: [Int32], timestamps: [Int64]? = nil, candidates: [Int32], userKey: String? = nil) {
        self.history = history
        self.timestamps = timestamps
        self.candidates = candidates
        self.userKey = userKey
    }
}

/// The answer to one `RecommendQuery`: item ids best first and their scores (cosine of the
/// L2-normalised user and item vectors, spec §6.1), ties by lower item id.
public struct Recommendation: Sendable, Equatable {
    public var items: [Int32]
    public var scores: [Float]

    public init(items: [Int32], scores: [Float]) {
        self.items = items
        self.scores = scores
    }
}

/// A request the engine cannot answer. `field` names the offending JSON field ("history[3]", "k",
/// "timestamps", "candidates[12]") so a server can answer 400 with it.
public struct InferenceError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
