import XCTest
@testable import GRCLI
@testable import GRData

/// Every kind of bad raw input is an error naming file, line and field, and leaves no output.
final class BadInputTests: XCTestCase {
    /// Prepares `src` into a fresh folder, expects a DataError, checks nothing was left behind.
    private func expectFailure(_ src: String, kind: DatasetKind = .ml1m, file: StaticString = #filePath, line: UInt = #line,
                               _ check: (DataError) -> Bool) -> String {
        let parent = TestFiles.folder("bad")
        let out = parent + "/store"
        let e = assertDataError({ try DatasetPreparer.prepare(kind, source: src, out: out) }, file: file, line: line, check)
        XCTAssertFalse(TestFiles.exists(out), "no output folder after a failure", file: file, line: line)
        XCTAssertEqual(TestFiles.siblings(of: out), [], "no temporary leftovers", file: file, line: line)
        return e.map { "\($0)" } ?? ""
    }

    func testMalformedLineMissingField() {
        let src = TestFiles.ml1m(ratings: "1::1::5::100\n1::2::4\n")
        let msg = expectFailure(src) {
            if case let .malformedLine(path, line, expected, found, _) = $0 {
                return path.hasSuffix("ratings.dat") && line == 2 && expected == 4 && found == 3
            }
            return false
        }
        XCTAssertTrue(msg.contains("ratings.dat:2"), msg)
    }

    func testWrongSeparator() {
        let src = TestFiles.ml1m(ratings: "1,1,5,100\n")
        let msg = expectFailure(src) {
            if case let .malformedLine(_, line, _, found, hint) = $0 { return line == 1 && found == 1 && hint.contains("wrong separator") }
            return false
        }
        XCTAssertTrue(msg.contains("','"), msg)
    }

    func testWrongSeparatorTabInML100K() {
        let f = TestFiles.folder("ml100k")
        TestFiles.write("1::1::5::100\n", f, "u.data")
        TestFiles.write("1|Toy Story (1995)|01-Jan-1995||http://x\n", f, "u.item")
        _ = expectFailure(f, kind: .ml100k) {
            if case let .malformedLine(_, 1, 4, 1, hint) = $0 { return hint.contains("'::'") }
            return false
        }
    }

    func testNonNumericField() {
        let src = TestFiles.ml1m(ratings: "1::1::5::100\n2::x7::3::100\n")
        let msg = expectFailure(src) {
            if case let .invalidField(path, line, field, value, _) = $0 {
                return path.hasSuffix("ratings.dat") && line == 2 && field == "movie_id" && value == "x7"
            }
            return false
        }
        XCTAssertTrue(msg.contains("ratings.dat:2: field 'movie_id'"), msg)
    }

    func testNonNumericRatingAndTimestamp() {
        _ = expectFailure(TestFiles.ml1m(ratings: "1::1::five::100\n")) {
            if case .invalidField(_, 1, "rating", "five", _) = $0 { return true }
            return false
        }
        _ = expectFailure(TestFiles.ml1m(ratings: "1::1::5::10.5\n")) {
            if case .invalidField(_, 1, "timestamp", "10.5", _) = $0 { return true }
            return false
        }
    }

    func testPaddingItemIdRejected() {
        _ = expectFailure(TestFiles.ml1m(ratings: "1::0::5::100\n")) {
            if case .outOfRange(_, 1, "movie_id", "0", _) = $0 { return true }
            return false
        }
    }

    func testEmptyFile() {
        _ = expectFailure(TestFiles.ml1m(ratings: "")) {
            if case let .emptyFile(path) = $0 { return path.hasSuffix("ratings.dat") }
            return false
        }
        _ = expectFailure(TestFiles.ml1m(ratings: "\n\n")) {
            if case .emptyFile = $0 { return true }
            return false
        }
        _ = expectFailure(TestFiles.ml1m(ratings: "1::1::5::100\n", movies: "")) {
            if case let .emptyFile(path) = $0 { return path.hasSuffix("movies.dat") }
            return false
        }
    }

    /// A file cut in the middle of its last line.
    func testTruncatedFile() {
        let msg = expectFailure(TestFiles.ml1m(ratings: "1::1::5::100\n1::2::4::101\n1::3")) {
            if case let .malformedLine(_, 3, 4, 2, hint) = $0 { return hint.contains("truncated") }
            return false
        }
        XCTAssertTrue(msg.contains("ratings.dat:3"), msg)
    }

    func testMissingMoviesFile() {
        let f = TestFiles.folder("nomovies")
        TestFiles.write("1::1::5::100\n", f, "ratings.dat")
        _ = expectFailure(f) {
            if case let .missingFile(path, _) = $0 { return path.hasSuffix("movies.dat") }
            return false
        }
    }

    func testMissingSource() {
        _ = expectFailure(TestFiles.folder("x") + "/nothing-here") {
            if case .missingFile = $0 { return true }
            return false
        }
    }

    func testCSVInconsistentFieldCountAndEmptyId() {
        let f = TestFiles.folder("csv")
        _ = expectFailure(TestFiles.write("a,b,1,5\na,c,2\n", f, "a.csv"), kind: .csv) {
            if case .malformedLine(_, 2, 4, 3, _) = $0 { return true }
            return false
        }
        _ = expectFailure(TestFiles.write("a,b,1\n,c,2\n", f, "b.csv"), kind: .csv) {
            if case .invalidField(_, 2, "user", "", _) = $0 { return true }
            return false
        }
        _ = expectFailure(TestFiles.write("a;b;1\n", f, "c.csv"), kind: .csv) {
            if case let .malformedLine(_, 1, _, 1, hint) = $0 { return hint.contains("';'") }
            return false
        }
        _ = expectFailure(TestFiles.write("a,b,x,1\n", f, "d.csv"), kind: .amznBooks) {
            if case .invalidField(_, 1, "rating", "x", _) = $0 { return true }
            return false
        }
    }

    /// A failed prepare leaves an existing store in place, untouched.
    func testFailureKeepsExistingStore() throws {
        let parent = TestFiles.folder("keep")
        let out = parent + "/store"
        try DatasetPreparer.prepare(.ml1m, source: TestFiles.ml1m(ratings: "1::1::5::100\n1::2::4::101\n"), out: out)
        assertDataError({ try DatasetPreparer.prepare(.ml1m, source: TestFiles.ml1m(ratings: "1::x::5::100\n"), out: out) }) {
            if case .invalidField = $0 { return true }
            return false
        }
        XCTAssertEqual(try SequenceStore.open(directory: out).eventCount, 2)
        XCTAssertEqual(TestFiles.siblings(of: out), ["store"])
    }

    /// The CLI reports the error (ArgumentParser exits non-zero for a thrown error).
    func testCommandThrows() throws {
        let src = TestFiles.ml1m(ratings: "1::1::5\n")
        let out = TestFiles.folder("cli") + "/store"
        var cmd = try DataPrepareCommand.parse(["--dataset", "ml-1m", "--source", src, "--out", out])
        XCTAssertThrowsError(try cmd.run())
        XCTAssertFalse(TestFiles.exists(out))
        XCTAssertEqual(DataPrepareCommand.exitCode(for: DataError.emptyFile(path: "x")).rawValue, 1)
        cmd = try DataPrepareCommand.parse(["--dataset", "ml-1m", "--source", TestFiles.ml1m(ratings: "1::1::5::1\n1::2::5::2\n"), "--out", out])
        XCTAssertNoThrow(try cmd.run())
    }

    /// A parent folder created for `--out` is removed again when the prepare fails.
    func testFailureRemovesCreatedParent() {
        let base = TestFiles.folder("parent")
        let out = base + "/new/parent/store"
        assertDataError({ try DatasetPreparer.prepare(.ml1m, source: TestFiles.ml1m(ratings: "1::1\n"), out: out) }) {
            if case .malformedLine = $0 { return true }
            return false
        }
        XCTAssertFalse(TestFiles.exists(base + "/new/parent"))
    }

    /// `gr data stats` verifies the store: fine on a good one, an error on a corrupted one.
    func testStatsCommand() throws {
        let out = TestFiles.folder("stats") + "/store"
        try DatasetPreparer.prepare(.ml1m, source: TestFiles.ml1m(ratings: "1::1::5::1\n1::2::5::2\n"), out: out)
        var cmd = try DataStatsCommand.parse([out])
        XCTAssertNoThrow(try cmd.run())
        let url = URL(fileURLWithPath: out + "/" + StoreFormat.fileName)
        var d = try Data(contentsOf: url)
        d[d.count - 1] ^= 0xFF
        try d.write(to: url)
        cmd = try DataStatsCommand.parse([out])
        XCTAssertThrowsError(try cmd.run()) { XCTAssertTrue("\($0)".contains("corrupted"), "\($0)") }
    }

    /// A UTF-8 byte-order mark before the first line is ignored.
    func testByteOrderMark() throws {
        let src = TestFiles.ml1m(ratings: "\u{FEFF}1::1::5::100\n1::2::4::101\n")
        let out = TestFiles.folder("bom") + "/store"
        XCTAssertEqual(try DatasetPreparer.prepare(.ml1m, source: src, out: out).interactions, 2)
    }
}
