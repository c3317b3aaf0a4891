import Foundation
import GRData
@testable import GRTrain

/// A tiny synthetic sequence store for trainer tests: `users` users over items 1...`items`, each a
/// walk item → item + 1 (wrapping) from a user-dependent start, 6–12 events, increasing timestamps,
/// ratings 1–5. Learnable (the next item follows the last) and small enough for debug builds.
enum TinyStore {
    static func make(users: Int = 24, items: Int = 30) throws -> (SequenceStore, directory: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var seqs: [[Int32]] = []
        for u in 0..<users {
            let n = 6 + (u * 5) % 7
            let start = (u * 7) % items
            seqs.append((0..<n).map { Int32((start + $0) % items + 1) })
        }
        let events = seqs.reduce(0) { $0 + $1.count }
        let path = dir.appendingPathComponent("sequences.grstore").path
        let w = try SequenceStoreWriter(path: path, name: "tiny", userCount: users, eventCount: events,
                                        corpus: (1...Int32(items)).map { $0 }, titles: nil, hasRatings: true)
        for (u, s) in seqs.enumerated() {
            let ts = (0..<s.count).map { Int64(1_000_000 + u * 10_000 + $0 * 3_600) }
            let ratings = (0..<s.count).map { Float(1 + ($0 + u) % 5) }
            try w.append(userId: Int64(u + 1), items: s, timestamps: ts, ratings: ratings)
        }
        try w.finish()
        return (try SequenceStore.open(directory: dir.path), dir)
    }

    /// Overrides that shrink any preset to a size debug builds run in well under a second per step.
    static let shrink = ["item_dim=8", "ffn_hidden=8", "dqk=4", "dv=4", "max_sequence_length=8", "num_negatives=4",
                         "batch_size=8", "eval_batch_size=16", "epochs=1", "eval_interval=2"]

    /// A small HSTU config for loop tests.
    static func config(_ extra: [String] = []) throws -> TrainConfig {
        var c = TrainConfig()
        try ConfigFile.applyOverrides(shrink + ["blocks=1", "heads=2", "epochs=3", "seed=5"] + extra, to: &c)
        return c
    }

    static func tempDir(_ tag: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("gr-\(tag)-\(UUID().uuidString)").path
    }
}
