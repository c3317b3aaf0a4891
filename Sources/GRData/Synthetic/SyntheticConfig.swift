/// Parameters of a synthetic interaction dataset (`gr data synth`), for scale tests at the sizes
/// of the real datasets that are not available offline.
public struct SyntheticConfig: Sendable, Equatable {
    public var name = "synthetic"
    public var users = 1000
    /// Listed items = corpus size M.
    public var items = 1000
    /// Total events E (exact).
    public var events = 50_000
    /// Largest item id; the M corpus ids are spread over 1...maxItemId (≥ items). nil = items.
    public var maxItemId: Int? = nil
    public var seed: UInt64 = 0
    /// Sequence lengths: min + lognormal(0, lengthSigma) scaled so that they sum to `events`.
    public var minLength = 5
    public var lengthSigma = 1.2
    /// Longest sequence (nil = items).
    public var maxLength: Int? = nil
    /// Popularity: P(item of popularity rank r) ∝ 1 / r^zipfExponent.
    public var zipfExponent = 1.0
    /// Mean events per session; within a session gaps are ~Exp(sessionGapMean) seconds (often 0,
    /// giving same-second ties like MovieLens), between sessions ~Exp(breakGapMean).
    public var sessionMean = 8.0
    public var sessionGapMean = 30.0
    public var breakGapMean = 3.0 * 86_400
    /// First activity of the users spread uniformly over [startTime, startTime + startSpread).
    public var startTime: Int64 = 946_684_800  // 2000-01-01
    public var startSpread: Int64 = 5 * 365 * 86_400
    /// Per-user retries to avoid repeating an item (after that a repeat is accepted).
    public var distinctRetries = 8

    public init() {}

    /// Presets with the shape of the real datasets (spec §1.2/§1.3, shared/data/README.md).
    public static func like(_ preset: String) -> SyntheticConfig? {
        var c = SyntheticConfig()
        switch preset {
        case "ml-20m":  // 138,493 users, 20,000,263 ratings, 27,278 listed movies, max id 131,262, ≥ 20 each
            c.name = "synthetic-ml-20m"
            c.users = 138_493; c.items = 27_278; c.maxItemId = 131_262; c.events = 20_000_263
            c.minLength = 20; c.lengthSigma = 1.1; c.zipfExponent = 0.9
        case "ml-1m":  // 6,040 users, 1,000,209 ratings, 3,883 movies, max id 3,952
            c.name = "synthetic-ml-1m"
            c.users = 6_040; c.items = 3_883; c.maxItemId = 3_952; c.events = 1_000_209
            c.minLength = 20; c.lengthSigma = 1.0; c.zipfExponent = 0.9
        case "amzn-books":  // after the 5/5 filter: 695,762 items; ~695k users, ~10M events, ≥ 5 each
            c.name = "synthetic-amzn-books"
            c.users = 694_897; c.items = 695_762; c.events = 10_053_086
            c.minLength = 5; c.lengthSigma = 1.0; c.zipfExponent = 0.8; c.sessionMean = 3
            c.breakGapMean = 30 * 86_400; c.startSpread = 15 * 365 * 86_400; c.startTime = 883_612_800
        default:
            return nil
        }
        return c
    }

    public static let presets = ["ml-20m", "ml-1m", "amzn-books"]

    func validate() throws {
        guard users > 0, items > 0, events > 0 else { throw DataError.invalidArgument("synthetic: users, items and events must be > 0") }
        guard (maxItemId ?? items) >= items, (maxItemId ?? items) <= Int(Int32.max) else {
            throw DataError.invalidArgument("synthetic: max item id must be ≥ items (\(items)) and fit in Int32")
        }
        guard minLength >= 1, events >= users * minLength else {
            throw DataError.invalidArgument("synthetic: \(events) events cannot give \(users) users ≥ \(minLength) events each")
        }
        guard events <= users * (maxLength ?? Int.max / max(users, 1)) else {
            throw DataError.invalidArgument("synthetic: \(events) events exceed users × max length")
        }
        guard lengthSigma >= 0, zipfExponent >= 0, sessionMean >= 1, sessionGapMean >= 0, breakGapMean >= 0 else {
            throw DataError.invalidArgument("synthetic: negative distribution parameter")
        }
    }
}
