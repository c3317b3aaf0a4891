// TEMPORARY: a copy of the GRInference contract (/work/briefs2/serving-contract.md) so GRServe builds
// before GRInference lands on main. Deleted once `import GRInference` works.
public struct RecommendQuery: Sendable, Equatable {
    public var history: [Int32]
    public var timestamps: [Int64]?
    public var k: Int
    public var excludeSeen: Bool
    public var userKey: String?
    public init(history: [Int32], timestamps: [Int64]? = nil, k: Int, excludeSeen: Bool = true, userKey: String? = nil) {
        self.history = history; self.timestamps = timestamps; self.k = k; self.excludeSeen = excludeSeen; self.userKey = userKey
    }
}
public struct ScoreQuery: Sendable, Equatable {
    public var history: [Int32]; public var timestamps: [Int64]?
    public var candidates: [Int32]
    public var userKey: String?
    public init(history: [Int32], timestamps: [Int64]? = nil, candidates: [Int32], userKey: String? = nil) {
        self.history = history; self.timestamps = timestamps; self.candidates = candidates; self.userKey = userKey
    }
}
public struct Recommendation: Sendable {
    public var items: [Int32]; public var scores: [Float]
    public init(items: [Int32], scores: [Float]) { self.items = items; self.scores = scores }
}
public struct InferenceError: Error, CustomStringConvertible {
    public let field: String; public let reason: String
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
    public var description: String { "\(field): \(reason)" }
}
public protocol RecommendationEngine: AnyObject, Sendable {
    var modelID: String { get }
    var maxHistory: Int { get }
    var maxItemId: Int { get }
    var corpusSize: Int { get }
    func validate(_ q: RecommendQuery) throws
    func validate(_ q: ScoreQuery) throws
    func recommend(_ batch: [RecommendQuery]) throws -> [Recommendation]
    func score(_ batch: [ScoreQuery]) throws -> [[Float]]
    func title(of item: Int32) -> String?
}
