import GRCore
import XCTest
@testable import GRCLI
@testable import GRData

final class SyntheticTests: XCTestCase {
    private func config() -> SyntheticConfig {
        var c = SyntheticConfig()
        c.users = 300; c.items = 500; c.maxItemId = 2_000; c.events = 9_000; c.minLength = 5; c.seed = 7
        return c
    }

    func testExactCountsAndShape() throws {
        let out = TestFiles.folder("synth") + "/s"
        let s = try DatasetPreparer.synthesize(config(), out: out)
        XCTAssertEqual(s.users, 300)
        XCTAssertEqual(s.interactions, 9_000)
        XCTAssertEqual(s.corpusSize, 500)
        XCTAssertEqual(s.maxItemId, 2_000)
        XCTAssertGreaterThanOrEqual(s.lengthMin, 5)
        XCTAssertGreaterThan(s.lengthMax, s.lengthP50 * 2)  // skewed lengths
        let store = try SequenceStore.open(directory: out)
        XCTAssertEqual(store.corpus.first, 1)
        XCTAssertEqual(store.corpus.last, 2_000)
        let corpus = Set(store.corpus)
        var popularity = [Int32: Int]()
        for u in 0..<store.userCount {
            let ts = store.timestamps(u)
            for i in 1..<ts.count { XCTAssertLessThanOrEqual(ts[i - 1], ts[i]) }
            for v in store.items(u) { XCTAssertTrue(corpus.contains(v)); popularity[v, default: 0] += 1 }
            XCTAssertTrue(store.ratings(u).allSatisfy { $0 >= 1 && $0 <= 5 })
        }
        let counts = popularity.values.sorted(by: >)
        XCTAssertGreaterThan(counts[0], 10 * counts[counts.count / 2])  // Zipf skew
    }

    /// Same seed → same bytes, whatever the thread count; another seed → different data.
    func testDeterministicBySeed() throws {
        func bytes(_ c: SyntheticConfig, threads: Int) throws -> Data {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            let out = TestFiles.folder("synth") + "/s"
            try DatasetPreparer.synthesize(c, out: out)
            return try Data(contentsOf: URL(fileURLWithPath: out + "/" + StoreFormat.fileName))
        }
        let a = try bytes(config(), threads: 1), b = try bytes(config(), threads: 3)
        XCTAssertEqual(a, b)
        var other = config()
        other.seed = 8
        XCTAssertNotEqual(a, try bytes(other, threads: 2))
    }

    /// export-csv → prepare --dataset csv keeps users, events and order (ids are recoded).
    func testCSVExportRoundTrip() throws {
        let dir = TestFiles.folder("synth")
        try DatasetPreparer.synthesize(config(), out: dir + "/s")
        let csv = dir + "/s.csv"
        let export = try DataExportCSVCommand.parse([dir + "/s", "--out", csv])
        try export.run()
        let s = try DatasetPreparer.prepare(.csv, source: csv, out: dir + "/back")
        let a = try SequenceStore.open(directory: dir + "/s"), b = try SequenceStore.open(directory: dir + "/back")
        XCTAssertEqual(s.interactions, 9_000)
        XCTAssertEqual(s.users, 300)
        XCTAssertEqual(s.items, DatasetSummary(store: a).items)
        // Users are lexicographic by id string in the CSV store: map back through the ids.
        var byId = [String: Int]()
        for u in 0..<a.userCount { byId[String(a.userId(u))] = u }
        let userStrings = (0..<a.userCount).map { String(a.userId($0)) }.sorted()
        for k in [0, 17, 299] {
            let u = byId[userStrings[k]]!
            XCTAssertEqual(Array(a.timestamps(u)), Array(b.timestamps(k)))
            XCTAssertEqual(Array(a.ratings(u)), Array(b.ratings(k)))
            XCTAssertEqual(a.count(u), b.count(k))
        }
    }

    func testPresetsAndValidation() throws {
        let ml20m = try XCTUnwrap(SyntheticConfig.like("ml-20m"))
        XCTAssertEqual(ml20m.users, 138_493)
        XCTAssertEqual(ml20m.events, 20_000_263)
        XCTAssertEqual(ml20m.maxItemId, 131_262)
        XCTAssertEqual(ml20m.items, 27_278)
        XCTAssertNil(SyntheticConfig.like("nope"))
        var bad = config()
        bad.events = 10  // < users × minLength
        assertDataError({ try DatasetPreparer.synthesize(bad, out: TestFiles.folder() + "/s") }) {
            if case .invalidArgument = $0 { return true }
            return false
        }
        let cmd = try DataSynthCommand.parse(["--like", "ml-20m", "--users", "10", "--events", "500", "--items", "30"])
        let c = try cmd.config()
        XCTAssertEqual(c.users, 10)
        XCTAssertEqual(c.maxItemId, 131_262)
        XCTAssertEqual(c.minLength, 20)
    }

    /// The alias table draws each index with probability ∝ its weight.
    func testAliasTableFrequencies() {
        let weights: [Double] = [1, 2, 3, 4, 0, 10]
        let table = AliasTable(weights: weights)
        let stream = PhiloxStream(seed: 5, stream: 77)
        var counts = [Int](repeating: 0, count: weights.count)
        let draws = 40_000
        for k in 0..<draws { counts[table.sample(stream.uint32(UInt64(2 * k)), stream.uint32(UInt64(2 * k + 1)))] += 1 }
        XCTAssertEqual(counts[4], 0)
        for i in weights.indices {
            XCTAssertEqual(Double(counts[i]) / Double(draws), weights[i] / 20, accuracy: 0.01, "index \(i)")
        }
    }
}
