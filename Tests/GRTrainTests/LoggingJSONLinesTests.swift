import Foundation
import GRTrain
import XCTest

final class LoggingJSONLinesTests: XCTestCase {
    func tempPath() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-jsonl-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent("log/metrics.jsonl").path
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    func testLinesAreWrittenImmediatelyAndParse() throws {
        let path = tempPath()
        let w = try JSONLinesWriter(path: path)
        w.write(["epoch": 3, "split": "eval", "metrics": ["ndcg@10": 0.25, "hr@10": Float(0.5)], "ok": true])
        // Visible before close: one complete line per write.
        XCTAssertEqual(try lines(path), [#"{"epoch":3,"metrics":{"hr@10":0.5,"ndcg@10":0.25},"ok":true,"split":"eval"}"#, ""])
        let missing: Int? = nil
        w.write(["loss": Double.nan, "inf": -Double.infinity, "none": missing as Any, "list": [1, 2.5, "a\"b\n"],
                 "step": Int64(1) << 40, "small": 1e-5])
        w.close()
        let all = try lines(path)
        XCTAssertEqual(all.count, 3)
        XCTAssertEqual(all[1], #"{"inf":null,"list":[1,2.5,"a\"b\n"],"loss":null,"none":null,"small":1e-05,"step":1099511627776}"#)
        for line in all.dropLast() {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), line)
        }
        XCTAssertNil(w.failure)
    }

    func testAppendAndTruncate() throws {
        let path = tempPath()
        try JSONLinesWriter(path: path).write(["a": 1])
        try JSONLinesWriter(path: path, append: true).write(["a": 2])
        XCTAssertEqual(try lines(path), [#"{"a":1}"#, #"{"a":2}"#, ""])
        try JSONLinesWriter(path: path).write(["a": 3])
        XCTAssertEqual(try lines(path), [#"{"a":3}"#, ""])
    }

    func testUnsupportedValueIsReported() throws {
        let path = tempPath()
        let w = try JSONLinesWriter(path: path)
        w.write(["when": ["at": Date()]])
        XCTAssertEqual(w.failure, .unsupportedValue(key: "when.at", type: "Date"))
        XCTAssertEqual(try lines(path), [""])
        XCTAssertEqual(try JSONLinesWriter.encode("\u{1}é"), "\"\\u0001é\"")
    }
}
