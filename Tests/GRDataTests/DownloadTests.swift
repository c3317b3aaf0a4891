import XCTest
@testable import GRData

final class DownloadTests: XCTestCase {
    /// Without network (here: a refused local port) the download fails fast, names the URL and
    /// says how to pass a local copy with --source; nothing is left in the output folder.
    func testNoNetworkFailsFastWithHint() throws {
        var d = DatasetDownloader(cacheDirectory: TestFiles.folder("cache"))
        d.connectTimeout = 2
        d.showProgress = false
        d.urlOverride = "http://127.0.0.1:9/ml-1m.zip"
        let out = TestFiles.folder("dl") + "/store"
        let start = Date()
        let e = assertDataError({ try DatasetPreparer.prepare(.ml1m, source: nil, out: out, downloader: d) }) {
            if case let .downloadFailed(url, reason) = $0 { return url.contains("127.0.0.1") && reason.contains("--source") }
            return false
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 15)
        XCTAssertTrue("\(e!)".contains("gr data prepare --dataset ml-1m --source"))
        XCTAssertFalse(TestFiles.exists(out))
    }

    func testKnownArchives() {
        XCTAssertEqual(DatasetKind.ml1m.url, "http://files.grouplens.org/datasets/movielens/ml-1m.zip")
        XCTAssertEqual(DatasetKind.ml1m.knownArchive.bytes, 5_917_549)
        XCTAssertNil(DatasetKind.csv.url)
        XCTAssertEqual(DatasetKind.amznBooks.maxSequenceLength, 50)
        XCTAssertEqual(DatasetKind.ml20m.maxSequenceLength, 200)
    }
}
