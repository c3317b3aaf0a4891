import Foundation
import GRCore
import XCTest

final class SafeTensorsWriterTests: XCTestCase {
    func testRoundTripThroughTheReader() throws {
        var w = SafeTensorsWriter()
        w.add("a.weight", floats: [1, -2, 3.5, 4, 5, 6], shape: [2, 3])
        w.add("step", int64s: [42], shape: [])
        w.add("ids", int32s: [7, 8, 9], shape: [3])
        w.add("empty", floats: [], shape: [0, 4])
        w.metadata = ["format": "x", "config": "{\"a\": 1}"]
        let data = try w.serialized()
        let headerLength = data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual((8 + Int(headerLength)) % 8, 0, "data must start 8-byte aligned")
        let f = try SafeTensorsFile(data: data)
        XCTAssertEqual(f.names, ["a.weight", "empty", "ids", "step"])
        XCTAssertEqual(try f.floats("a.weight"), [1, -2, 3.5, 4, 5, 6])
        XCTAssertEqual(try f.shape("a.weight"), [2, 3])
        XCTAssertEqual(try f.int64s("step"), [42])
        XCTAssertEqual(try f.int64s("ids"), [7, 8, 9])
        XCTAssertEqual(try f.shape("empty"), [0, 4])
        XCTAssertEqual(f.metadata, ["format": "x", "config": "{\"a\": 1}"])
    }

    func testAtomicWriteReplacesTheFileAndLeavesNoTemporary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.safetensors").path
        for v: Float in [1, 2] {
            var w = SafeTensorsWriter()
            w.add("v", floats: [v], shape: [1])
            try w.write(to: path)
        }
        XCTAssertEqual(try SafeTensorsFile(path: path).floats("v"), [2])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["x.safetensors"])
        XCTAssertThrowsError(try SafeTensorsWriter().write(to: dir.appendingPathComponent("no/such/dir.st").path))
    }
}
