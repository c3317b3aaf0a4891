import Foundation
import GRTrain
import XCTest

/// TensorBoard event files: CRC32C, TFRecord framing, the Event protobuf, and the writer end to end
/// (decoded back with `TensorBoardEventFile`).
final class LoggingTensorBoardTests: XCTestCase {
    func tempDir() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-tb-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    func testCRC32CKnownAnswers() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xFF, and ascending 0..31.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map(UInt8.init)), 0x46DD_794E)
        let crc = CRC32C.checksum(Array("123456789".utf8))
        XCTAssertEqual(CRC32C.masked(Array("123456789".utf8)), ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    func testEventEncodingBytes() throws {
        let e = TensorBoardEvent(wallTime: 1.5, step: 3, scalars: [.init(tag: "a", value: 2)])
        // wall_time (field 1, fixed64) 1.5; step (2, varint) 3; summary (5) { value (1) { tag (1) "a"; simple_value (2, fixed32) 2.0 } }
        let expected: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0x10, 0x03,
                                 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 0x61, 0x15, 0, 0, 0, 0x40]
        XCTAssertEqual(e.encoded(), expected)
        XCTAssertEqual(try TensorBoardEvent.decode(expected[...]), e)
        let v = TensorBoardEvent(wallTime: 2, step: 0, fileVersion: "brain.Event:2")
        XCTAssertEqual(try TensorBoardEvent.decode(v.encoded()[...]), v)
        let big = TensorBoardEvent(wallTime: 0, step: 1 << 40, scalars: [.init(tag: String(repeating: "x", count: 300), value: -0.25)])
        XCTAssertEqual(try TensorBoardEvent.decode(big.encoded()[...]), big)
        XCTAssertThrowsError(try TensorBoardEvent.decode(expected.dropLast(2)))
    }

    func testTFRecordFramingAndCorruption() throws {
        var file = [UInt8]()
        TFRecord.frame([1, 2, 3], into: &file)
        TFRecord.frame([], into: &file)
        XCTAssertEqual(file.count, 3 + 2 * TFRecord.overhead)
        XCTAssertEqual(Array(file[0..<8]), [3, 0, 0, 0, 0, 0, 0, 0])
        let records = try TFRecord.records(file, path: "mem")
        XCTAssertEqual(records.map { Array($0.data) }, [[1, 2, 3], []])
        var bad = file
        bad[13] ^= 1  // a data byte
        XCTAssertThrowsError(try TFRecord.records(bad, path: "mem")) { error in
            XCTAssertEqual(error as? LoggingError, .corrupt(path: "mem", offset: 0, message: "data CRC mismatch"))
        }
        XCTAssertThrowsError(try TFRecord.records(Array(file.dropLast()), path: "mem"))
    }

    func testWriterRoundTrip() throws {
        let dir = tempDir()
        let w = try TensorBoardWriter(directory: dir)
        let name = (w.path as NSString).lastPathComponent
        XCTAssertTrue(name.hasPrefix("events.out.tfevents."), name)
        w.scalar(LogTags.arLoss, 8.31, step: 0)
        w.scalar(LogTags.arLoss, 7.5, step: 1)
        w.scalars(LogTags.evalEpoch, [(name: "ndcg@10", value: 0.0155), (name: "hr@10", value: 0.032)], step: 0)
        w.flush()
        let second = try TensorBoardWriter(directory: dir)
        XCTAssertNotEqual(second.path, w.path, "a second writer gets its own file")
        second.close()
        w.scalar(LogTags.learningRate, 1e-3, step: 100)
        w.close()
        w.scalar("ignored", 1, step: 1)  // after close: dropped
        XCTAssertNil(w.failure)

        let events = try TensorBoardEventFile.read(w.path)
        XCTAssertEqual(events.first?.fileVersion, "brain.Event:2")
        XCTAssertTrue(events.first!.scalars.isEmpty)
        let scalars = events.dropFirst().map { ($0.step, $0.scalars.map(\.tag), $0.scalars.map(\.value)) }
        XCTAssertEqual(scalars.map(\.0), [0, 1, 0, 0, 100])
        XCTAssertEqual(scalars.map(\.1), [["losses/ar_loss"], ["losses/ar_loss"], ["eval_epoch/ndcg@10"], ["eval_epoch/hr@10"], ["lr"]])
        XCTAssertEqual(scalars.map(\.2), [[Float(8.31)], [7.5], [Float(0.0155)], [Float(0.032)], [Float(1e-3)]])
        let now = Date().timeIntervalSince1970
        XCTAssertTrue(events.allSatisfy { abs($0.wallTime - now) < 3600 })
    }
}
