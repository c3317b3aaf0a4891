import GRTestSupport
import XCTest
@testable import GRData

final class MovieLensRecipeTests: XCTestCase {
    /// shared/data/README.md: ML-1M users 1–2999, every rating of each.
    func testML1MSubsetSummary() throws {
        let (store, s) = try PreparedShared.ml1m.get()
        XCTAssertEqual(s.dataset, "ml-1m")
        XCTAssertEqual(s.users, 2_999)
        XCTAssertEqual(s.interactions, 487_650)
        XCTAssertEqual(s.corpusSize, 3_883)
        XCTAssertEqual(s.maxItemId, 3_952)
        XCTAssertEqual(s.items, 3_615)
        XCTAssertEqual(s.lengthMin, 20)  // every ML-1M user has ≥ 20 ratings
        XCTAssertEqual(store.corpus.count, 3_883)
        XCTAssertEqual(store.maxItemId, 3_952)
        XCTAssertEqual(store.title(ofItem: 1), "Toy Story (1995)")
        XCTAssertNil(store.title(ofItem: 0))
        // Users in raw id order, chronological.
        XCTAssertEqual(store.userId(0), 1)
        XCTAssertEqual(store.userId(2_998), 2_999)
        for u in [0, 1, 500, 2_998] {
            let ts = store.timestamps(u)
            for i in 1..<ts.count { XCTAssertLessThanOrEqual(ts[i - 1], ts[i]) }
        }
        // summary.json matches a fresh computation.
        XCTAssertEqual(DatasetSummary(store: store), s)
    }

    /// ISO-8859-1 titles are converted to UTF-8.
    func testML1MLatin1Title() throws {
        let (store, _) = try PreparedShared.ml1m.get()
        // movies.dat line 73: "73::Misérables, Les (1995)::Drama|Musical" (é is the byte 0xE9).
        XCTAssertEqual(store.title(ofItem: 73), "Misérables, Les (1995)")
    }

    func testML100KSummary() throws {
        let (store, s) = try PreparedShared.ml100k.get()
        XCTAssertEqual(s.users, 943)
        XCTAssertEqual(s.interactions, 100_000)
        XCTAssertEqual(s.corpusSize, 1_682)
        XCTAssertEqual(s.maxItemId, 1_682)
        XCTAssertEqual(store.title(ofItem: 1), "Toy Story (1995)")
    }

    /// Equal timestamps keep their file order (stable sort); earlier timestamps come first
    /// regardless of file order.
    func testStableSortTies() throws {
        let src = TestFiles.ml1m(ratings: """
            7::3::4::200
            7::1::5::100
            7::5::3::200
            7::2::1::200
            3::2::2::50
            3::1::3::50

            """)
        let out = TestFiles.folder() + "/s"
        try DatasetPreparer.prepare(.ml1m, source: src, out: out)
        let store = try SequenceStore.open(directory: out)
        XCTAssertEqual(store.userCount, 2)
        XCTAssertEqual(store.userId(0), 3)
        XCTAssertEqual(Array(store.items(0)), [2, 1])
        XCTAssertEqual(store.userId(1), 7)
        XCTAssertEqual(Array(store.items(1)), [1, 3, 5, 2])
        XCTAssertEqual(Array(store.timestamps(1)), [100, 200, 200, 200])
        XCTAssertEqual(Array(store.ratings(1)), [5, 4, 3, 1])
        XCTAssertEqual(store.corpus, [1, 2, 3, 5])
        XCTAssertEqual(store.maxItemId, 5)
        XCTAssertEqual(store.title(ofItem: 5), "E")
    }

    /// ML-20M format: header lines, comma separated, quoted titles with commas, half-star ratings.
    func testML20MFormat() throws {
        let f = TestFiles.folder("ml20m")
        TestFiles.write("userId,movieId,rating,timestamp\r\n1,2,3.5,1112486027\r\n1,29,3.5,1112484676\r\n2,3,4.0,974820889\r\n", f, "ratings.csv")
        TestFiles.write("movieId,title,genres\n2,Jumanji (1995),Adventure\n3,\"Grumpier Old Men, The (1995)\",Comedy\n29,\"City of \"\"Lost\"\" Children\",Drama\n131262,Innocence (2014),Adventure\n", f, "movies.csv")
        let out = TestFiles.folder() + "/s"
        let s = try DatasetPreparer.prepare(.ml20m, source: f + "/ratings.csv", out: out)
        XCTAssertEqual(s.users, 2)
        XCTAssertEqual(s.maxItemId, 131_262)
        XCTAssertEqual(s.corpusSize, 4)
        let store = try SequenceStore.open(directory: out)
        XCTAssertEqual(Array(store.items(0)), [29, 2])
        XCTAssertEqual(Array(store.ratings(0)), [3.5, 3.5])
        XCTAssertEqual(store.title(ofItem: 3), "Grumpier Old Men, The (1995)")
        XCTAssertEqual(store.title(ofItem: 29), "City of \"Lost\" Children")
    }
}
