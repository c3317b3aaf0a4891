import Foundation

/// What `summary.json` beside a store says about it (`gr data stats` prints it as a table).
/// Percentiles of the per-user sequence length use the nearest-rank definition:
/// p-th percentile = sorted[⌈p/100 · U⌉ − 1].
public struct DatasetSummary: Codable, Equatable {
    public var dataset: String
    public var users: Int
    /// Distinct item ids that occur in at least one sequence.
    public var items: Int
    public var interactions: Int
    public var corpusSize: Int
    public var maxItemId: Int
    public var lengthMin: Int
    public var lengthP50: Int
    public var lengthP90: Int
    public var lengthP99: Int
    public var lengthMax: Int
    public var lengthMean: Double
    public var hasRatings: Bool
    public var hasTitles: Bool
    public var formatVersion: Int
    /// How ties in timestamp were ordered when the store was prepared (`TieOrder`); nil for
    /// synthetic stores and summaries written before the option existed.
    public var tieOrder: TieOrder?

    /// Computes the summary by one pass over the store.
    public init(store: SequenceStore) {
        dataset = store.datasetName
        users = store.userCount
        interactions = store.eventCount
        corpusSize = store.corpus.count
        maxItemId = store.maxItemId
        var seen = [Bool](repeating: false, count: store.maxItemId + 1)
        var lengths: [Int] = []
        lengths.reserveCapacity(store.userCount)
        for u in 0..<store.userCount {
            let items = store.items(u)
            lengths.append(items.count)
            for v in items where v >= 0 && Int(v) < seen.count { seen[Int(v)] = true }
        }
        items = seen.reduce(0) { $0 + ($1 ? 1 : 0) }
        lengths.sort()
        func pct(_ p: Double) -> Int {
            lengths.isEmpty ? 0 : lengths[max(0, Int((p / 100 * Double(lengths.count)).rounded(.up)) - 1)]
        }
        lengthMin = lengths.first ?? 0
        lengthP50 = pct(50); lengthP90 = pct(90); lengthP99 = pct(99)
        lengthMax = lengths.last ?? 0
        lengthMean = lengths.isEmpty ? 0 : Double(interactions) / Double(lengths.count)
        hasRatings = store.hasRatings
        hasTitles = store.hasTitles
        formatVersion = Int(StoreFormat.version)
    }

    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }

    /// Reads `<directory>/summary.json`.
    public static func load(directory: String) throws -> DatasetSummary {
        let path = directory + "/" + StoreFormat.summaryName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError.missingFile(path: path, what: "summary")
        }
        do { return try JSONDecoder().decode(DatasetSummary.self, from: data) } catch {
            throw DataError.storeCorrupted(path: path, detail: "summary.json does not parse: \(error)")
        }
    }

    /// Rows for a two-column table.
    public var rows: [(String, String)] {
        func n(_ v: Int) -> String {
            let s = String(v)
            var out = ""
            for (i, c) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }; out.append(c) }
            return String(out.reversed())
        }
        var rows: [(String, String)] = [
            ("dataset", dataset), ("users", n(users)), ("items (distinct rated)", n(items)),
            ("interactions", n(interactions)), ("corpus size", n(corpusSize)), ("max item id", n(maxItemId)),
            ("length min", n(lengthMin)), ("length p50", n(lengthP50)), ("length p90", n(lengthP90)),
            ("length p99", n(lengthP99)), ("length max", n(lengthMax)),
            ("length mean", String(format: "%.2f", lengthMean)),
            ("ratings", hasRatings ? "yes" : "no"), ("titles", hasTitles ? "yes" : "no"),
        ]
        if let tieOrder { rows.append(("timestamp ties", tieOrder.rawValue)) }
        return rows
    }

    public var table: String {
        let w = rows.map { $0.0.count }.max() ?? 0
        return rows.map { $0.0.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
