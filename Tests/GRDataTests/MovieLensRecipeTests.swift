import GRTestSupport
import XCTest
@testable import GRData

final class MovieLensRecipeTests: XCTestCase {
    /// User 7 has three ratings in second 200 (items 3, 5, 2 in file order), user 3 two in second 50.
    static let tiedRatings = """
        7::3::4::200
        7::1::5::100
        7::5::3::200
        7::2::1::200
        3::2::2::50
        3::1::3::50

        """
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
        // summary.json matches a fresh computation (plus the preparation's tie order).
        var fresh = DatasetSummary(store: store)
        fresh.tieOrder = .file
        XCTAssertEqual(fresh, s)
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
        let src = TestFiles.ml1m(ratings: Self.tiedRatings)
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

    /// `--tie-order item`: equal timestamps by ascending item id, whatever the file order; other
    /// timestamps unaffected; recorded in summary.json.
    func testItemTieOrder() throws {
        let src = TestFiles.ml1m(ratings: Self.tiedRatings)
        let out = TestFiles.folder() + "/s"
        let summary = try DatasetPreparer.prepare(.ml1m, source: src, out: out, tieOrder: .item)
        let store = try SequenceStore.open(directory: out)
        XCTAssertEqual(Array(store.items(0)), [1, 2])
        XCTAssertEqual(Array(store.items(1)), [1, 2, 3, 5])
        XCTAssertEqual(Array(store.timestamps(1)), [100, 200, 200, 200])
        XCTAssertEqual(Array(store.ratings(1)), [5, 1, 4, 3])  // ratings travel with their items
        XCTAssertEqual(summary.tieOrder, .item)
        XCTAssertEqual(try DatasetSummary.load(directory: out).tieOrder, .item)
        XCTAssertTrue(summary.table.contains("timestamp ties"))
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

    /// `--source` may be the official zip archive itself (extracted to a temporary folder).
    func testZipSource() throws {
        let parent = TestFiles.folder("zip")
        let zip = StoredZip.make([
            ("ml-100k/u.data", "1\t1\t5\t100\n1\t2\t3\t101\n2\t1\t4\t7\n"),
            ("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0\n2|GoldenEye (1995)|01-Jan-1995||http://y|0\n"),
        ])
        try zip.write(to: URL(fileURLWithPath: parent + "/ml-100k.zip"))
        let s = try DatasetPreparer.prepare(.ml100k, source: parent + "/ml-100k.zip", out: parent + "/store")
        XCTAssertEqual(s.interactions, 3)
        XCTAssertEqual(s.users, 2)
        XCTAssertEqual(try SequenceStore.open(directory: parent + "/store").title(ofItem: 2), "GoldenEye (1995)")
    }
}

/// Builds a zip archive with stored (uncompressed) entries, enough for `unzip`.
enum StoredZip {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    static func make(_ files: [(String, String)]) -> Data {
        var out = [UInt8](), central = [UInt8]()
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: UInt32, _ a: inout [UInt8]) { for k in 0..<4 { a.append(UInt8(v >> (8 * UInt32(k)) & 0xFF)) } }
        for (name, text) in files {
            let data = Array(text.utf8), n = Array(name.utf8), crc = crc32(data), offset = UInt32(out.count)
            u32(0x0403_4B50, &out); u16(10, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0x21, &out)
            u32(crc, &out); u32(UInt32(data.count), &out); u32(UInt32(data.count), &out); u16(n.count, &out); u16(0, &out)
            out += n + data
            u32(0x0201_4B50, &central); u16(20, &central); u16(10, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0x21, &central); u32(crc, &central); u32(UInt32(data.count), &central)
            u32(UInt32(data.count), &central); u16(n.count, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(offset, &central)
            central += n
        }
        let cdOffset = UInt32(out.count)
        out += central
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(files.count, &out); u16(files.count, &out)
        u32(UInt32(central.count), &out); u32(cdOffset, &out); u16(0, &out)
        return Data(out)
    }
}
