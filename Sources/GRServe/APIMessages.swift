/// The JSON bodies of the API (openapi.yaml is the document of record; the OpenAPI test checks that
/// these and the document agree). Request structs decode strictly: unknown keys are rejected and
/// every missing or mistyped field is reported by name.

/// `POST /v1/recommend`.
public struct RecommendBody: Decodable, Sendable, Equatable {
    /// Item ids, oldest first.
    public var history: [Int32]
    /// Unix seconds, one per history item; omitted → the engine's documented default.
    public var timestamps: [Int64]?
    public var k: Int
    /// Remove the history's items from the answer; default true.
    public var excludeSeen: Bool?
    /// Optional user key: enables the engine's per-user cache.
    public var user: String?

    static let keys: Set<String> = ["history", "timestamps", "k", "exclude_seen", "user"]

    public init(history: [Int32], timestamps: [Int64]? = nil, k: Int, excludeSeen: Bool? = nil, user: String? = nil) {
        self.history = history
        self.timestamps = timestamps
        self.k = k
        self.excludeSeen = excludeSeen
        self.user = user
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.rejectUnknownKeys(Self.keys)
        history = try c.integers(Int32.self, "history", required: true)!
        timestamps = try c.integers(Int64.self, "timestamps", required: false)
        k = try c.integer(Int.self, "k")
        excludeSeen = try c.optional(Bool.self, "exclude_seen")
        user = try c.optional(String.self, "user")
    }
}

/// `POST /v1/score`.
public struct ScoreBody: Decodable, Sendable, Equatable {
    public var history: [Int32]
    public var timestamps: [Int64]?
    /// Item ids to score against the history, in the order of the answer's scores.
    public var candidates: [Int32]
    public var user: String?

    static let keys: Set<String> = ["history", "timestamps", "candidates", "user"]

    public init(history: [Int32], timestamps: [Int64]? = nil, candidates: [Int32], user: String? = nil) {
        self.history = history
        self.timestamps = timestamps
        self.candidates = candidates
        self.user = user
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.rejectUnknownKeys(Self.keys)
        history = try c.integers(Int32.self, "history", required: true)!
        timestamps = try c.integers(Int64.self, "timestamps", required: false)
        candidates = try c.integers(Int32.self, "candidates", required: true)!
        user = try c.optional(String.self, "user")
    }
}

/// `POST /admin/reload`.
public struct ReloadBody: Decodable, Sendable, Equatable {
    /// Path of the checkpoint to load (as on the server's file system).
    public var checkpoint: String

    public init(checkpoint: String) { self.checkpoint = checkpoint }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.rejectUnknownKeys(["checkpoint"])
        checkpoint = try c.required(String.self, "checkpoint")
    }
}

/// The answer of `/v1/recommend`: the top-k items, best first, with their scores; `titles` when the
/// engine knows every returned item's title; the id of the model that answered.
public struct RecommendAnswer: Codable, Sendable, Equatable {
    public var items: [Int32]
    public var scores: [Float]
    public var titles: [String]?
    public var model: String
}

/// The answer of `/v1/score`: one score per candidate, in the request's order.
public struct ScoreAnswer: Codable, Sendable, Equatable {
    public var scores: [Float]
    public var model: String
}

/// `GET /healthz`: the serving model and what clients need to build requests for it.
public struct HealthAnswer: Codable, Sendable, Equatable {
    public var status: String
    public var model: String
    public var maxItemId: Int
    public var maxHistory: Int
    public var corpusSize: Int
    public var queueDepth: Int
    enum CodingKeys: String, CodingKey {
        case status, model, maxItemId = "max_item_id", maxHistory = "max_history", corpusSize = "corpus_size"
        case queueDepth = "queue_depth"
    }
}

/// `POST /admin/reload`'s answer: the previous and the new model id.
public struct ReloadAnswer: Codable, Sendable, Equatable {
    public var previous: String
    public var model: String
}
