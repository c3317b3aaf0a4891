import Foundation
import GREval
import XCTest

final class RankFileTests: XCTestCase {
    func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-rankfile-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name).path
    }

    func testRoundTripAndReplace() throws {
        let path = tempPath("ranks.csv")
        let records = [RankRecord(user: 0, target: 13, rank: 1), RankRecord(user: 5, target: 26, rank: 2501)]
        try RankFile.write(records, to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "user,target,rank\n0,13,1\n5,26,2501\n")
        XCTAssertEqual(try RankFile.read(path), records)
        try RankFile.write([], to: path)  // replaces the existing file
        XCTAssertEqual(try RankFile.read(path), [])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        XCTAssertEqual(leftovers, ["ranks.csv"], "no temporary file left behind")
    }

    func testMalformedNamesLine() throws {
        let path = tempPath("bad.csv")
        try "user,target,rank\n1,2,3\n4,x,6\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RankFile.read(path)) { error in
            XCTAssertEqual(error as? EvalError, .malformed(path: path, line: 3, message: "expected 'user,target,rank', got '4,x,6'"))
        }
        try "u,t,r\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RankFile.read(path))
        XCTAssertThrowsError(try RankFile.read(path + ".missing"))
    }

    func testCompareRanks() throws {
        let a = [RankRecord(user: 1, target: 10, rank: 1), RankRecord(user: 2, target: 20, rank: 50),
                 RankRecord(user: 3, target: 30, rank: 2501), RankRecord(user: 4, target: 40, rank: 7),
                 RankRecord(user: 9, target: 90, rank: 3)]
        let b = [RankRecord(user: 4, target: 40, rank: 7), RankRecord(user: 3, target: 30, rank: 2501),
                 RankRecord(user: 2, target: 20, rank: 5), RankRecord(user: 1, target: 10, rank: 12),
                 RankRecord(user: 8, target: 80, rank: 1)]
        let c = try compareRanks(a, b)
        XCTAssertEqual(c.users, 4)
        XCTAssertEqual(c.wins, 1)
        XCTAssertEqual(c.losses, 1)
        XCTAssertEqual(c.ties, 2)
        XCTAssertEqual(c.bothMissed, 1)
        XCTAssertEqual(c.hitsOnlyA, 1)
        XCTAssertEqual(c.hitsOnlyB, 1)
        XCTAssertEqual(c.onlyInA, 1)
        XCTAssertEqual(c.onlyInB, 1)
        XCTAssertEqual(c.meanReciprocalRankDelta, ((1 - 1.0 / 12) + (1.0 / 50 - 1.0 / 5)) / 4, accuracy: 1e-15)
        XCTAssertThrowsError(try compareRanks(a, [RankRecord(user: 1, target: 11, rank: 1)])) { error in
            XCTAssertEqual(error as? EvalError, .targetMismatch(user: 1, targetA: 10, targetB: 11))
        }
        XCTAssertThrowsError(try compareRanks(a + [a[0]], b))
    }
}
