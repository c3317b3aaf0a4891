import Foundation
import GRTestSupport
import XCTest
@testable import GRData

/// Temporary folders and small raw files for the data tests.
enum TestFiles {
    /// A fresh empty folder under the system temporary directory.
    static func folder(_ name: String = "t") -> String {
        let p = NSTemporaryDirectory() + "gr-data-tests-\(getpid())/\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    @discardableResult
    static func write(_ text: String, _ folder: String, _ name: String) -> String {
        let p = folder + "/" + name
        try! Data(text.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// A tiny ML-1M-format folder.
    static func ml1m(ratings: String, movies: String = "1::A (1999)::Drama\n2::B (2000)::Comedy\n3::C (2001)::Drama\n5::E::X\n") -> String {
        let f = folder("ml1m")
        write(ratings, f, "ratings.dat")
        write(movies, f, "movies.dat")
        return f
    }

    static func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: p) }

    /// Entries in the folder that `out` would be created in (to check no partial output is left).
    static func siblings(of out: String) -> [String] {
        let parent = URL(fileURLWithPath: out).deletingLastPathComponent().path
        return (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
    }
}

/// The shared MovieLens copies prepared once per test process (parsing 487k lines in debug takes
/// a few seconds).
enum PreparedShared {
    static let ml1m: Result<(SequenceStore, DatasetSummary), Error> = Result {
        let out = TestFiles.folder("ml1m-u2999") + "/store"
        let s = try DatasetPreparer.prepare(.ml1m, source: Shared.path("data/ml-1m-u2999"), out: out)
        return (try SequenceStore.open(directory: out), s)
    }
    static let ml100k: Result<(SequenceStore, DatasetSummary), Error> = Result {
        let out = TestFiles.folder("ml100k") + "/store"
        let s = try DatasetPreparer.prepare(.ml100k, source: Shared.path("data/ml-100k"), out: out)
        return (try SequenceStore.open(directory: out), s)
    }
}

/// Asserts that `body` throws a DataError matching `check`, and returns it.
@discardableResult
func assertDataError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line,
                     _ check: (DataError) -> Bool) -> DataError? {
    do {
        try body()
        XCTFail("expected a DataError", file: file, line: line)
    } catch let e as DataError {
        XCTAssertTrue(check(e), "unexpected error: \(e)", file: file, line: line)
        return e
    } catch {
        XCTFail("expected a DataError, got \(error)", file: file, line: line)
    }
    return nil
}
