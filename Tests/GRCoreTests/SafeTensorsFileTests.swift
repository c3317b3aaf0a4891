import Foundation
import GRCore
import GRTestSupport
import XCTest

final class SafeTensorsFileTests: XCTestCase {
    func testReadsEveryFixture() throws {
        for name in ["hstu_layer", "hstu_model", "sasrec_model", "eval_metrics"] {
            let f = try Shared.fixture(name)
            XCTAssertFalse(f.names.isEmpty, name)
            for n in f.names {
                let e = try f.entry(n)
                if e.dtype.hasPrefix("F") { XCTAssertEqual(try f.doubles(n).count, e.count, n) }
                else { XCTAssertEqual(try f.int64s(n).count, e.count, n) }
            }
        }
    }

    func testTruncatedFileIsAnError() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Shared.path("fixtures/hstu_layer.safetensors")))
        XCTAssertThrowsError(try SafeTensorsFile(data: data.prefix(5), path: "cut")) { e in
            XCTAssertTrue("\(e)".contains("truncated"), "\(e)")
        }
        XCTAssertThrowsError(try SafeTensorsFile(data: data.prefix(data.count - 10), path: "cut"))
    }
}
