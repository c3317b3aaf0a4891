import XCTest
@testable import GRData

final class StringKeyedRecipeTests: XCTestCase {
    /// Amazon Books (spec §1.3): ≥5/≥5 on raw counts in one pass, lexicographic recode + 1, users
    /// with < 5 kept items dropped, their items staying in the corpus.
    func testAmazonBooksFilterAndRecode() throws {
        var lines: [String] = []
        // u1: 5 rows on popular items B..F (each item gets ≥ 5 rows overall).
        // u2..u5: the same items, 5 rows each. uX: 5 rows, 4 on popular items + 1 on rare item Z
        // (count 1 → row dropped; uX keeps 4 rows < 5 → user dropped; its items stay in the corpus).
        // uY: 2 rows → user count < 5 → rows dropped.
        let popular = ["F", "B", "D", "C", "E"]
        for (k, u) in ["u1", "u2", "u3", "u4", "u5"].enumerated() {
            for (i, item) in popular.enumerated() { lines.append("\(u),\(item),\(i + 1).0,\(1000 + 10 * i + k)") }
        }
        for (i, item) in ["B", "C", "D", "E", "Z"].enumerated() { lines.append("uX,\(item),5.0,\(2000 + i)") }
        lines.append("uY,B,1.0,5"); lines.append("uY,A,1.0,6")
        let f = TestFiles.folder("books")
        let path = TestFiles.write(lines.joined(separator: "\n") + "\n", f, "ratings_Books.csv")
        let out = TestFiles.folder() + "/s"
        let s = try DatasetPreparer.prepare(.amznBooks, source: path, out: out)
        let store = try SequenceStore.open(directory: out)
        // Kept items: B C D E F (A: 1 row, Z: 1 row) → ids B=1 C=2 D=3 E=4 F=5.
        XCTAssertEqual(store.corpus, [1, 2, 3, 4, 5])
        XCTAssertEqual(s.users, 5)
        XCTAssertEqual(s.interactions, 25)
        // u1's rows in time order: F B D C E.
        XCTAssertEqual(Array(store.items(0)), [5, 1, 3, 2, 4])
        XCTAssertEqual(Array(store.ratings(0)), [1, 2, 3, 4, 5])
        XCTAssertEqual(store.userId(0), 0)  // lexicographic code among kept users
        XCTAssertFalse(store.hasTitles)
    }

    /// Generic CSV: optional header, string ids recoded lexicographically + 1, rating optional.
    func testGenericCSV() throws {
        let f = TestFiles.folder("csv")
        let path = TestFiles.write("user,item,timestamp\nbob,item10,5\nbob,item2,3\nalice,item10,1\n", f, "x.csv")
        let out = TestFiles.folder() + "/s"
        let s = try DatasetPreparer.prepare(.csv, source: path, out: out)
        let store = try SequenceStore.open(directory: out)
        XCTAssertEqual(s.users, 2)
        XCTAssertEqual(store.corpus, [1, 2])  // "item10" < "item2"
        XCTAssertEqual(Array(store.items(0)), [1])  // alice
        XCTAssertEqual(Array(store.items(1)), [2, 1])  // bob, by time
        XCTAssertFalse(store.hasRatings)
        // Headerless with ratings.
        let path2 = TestFiles.write("1,a,10,4.5\n1,b,11,3\n", f, "y.csv")
        let out2 = TestFiles.folder() + "/s"
        try DatasetPreparer.prepare(.csv, source: path2, out: out2)
        let store2 = try SequenceStore.open(directory: out2)
        XCTAssertTrue(store2.hasRatings)
        XCTAssertEqual(Array(store2.ratings(0)), [4.5, 3])
    }
}
