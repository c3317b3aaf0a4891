import Foundation
import GRTestSupport
@testable import GRTrain
import XCTest

/// The repository root (configs/ lives there).
enum Repo {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static let presets = ["ml-1m", "ml-20m", "amzn-books"].flatMap { d in ["sasrec", "hstu", "hstu-large"].map { "\(d)/\($0)" } }
}

final class ConfigTests: XCTestCase {
    func testAllNinePresetsLoadWithTheReferenceValues() throws {
        for p in Repo.presets {
            let c = try ConfigFile.load(path: Repo.path("configs/\(p).yaml"))
            XCTAssertEqual(c.name, p)
            XCTAssertEqual(c.batchSize, 128, p)
            XCTAssertEqual(c.lr, 1e-3, p)
            XCTAssertEqual(c.beta2, 0.98, p)
            XCTAssertEqual(c.weightDecay, 0, p)
            XCTAssertEqual(c.temperature, 0.05, p)
            XCTAssertEqual(c.loss, .sampledSoftmax, p)
            let books = p.hasPrefix("amzn-books")
            XCTAssertEqual(c.maxSequenceLength, books ? 50 : 200, p)
            XCTAssertEqual(c.numNegatives, books ? 512 : 128, p)
            XCTAssertEqual(c.epochs, books ? 201 : 101, p)
            XCTAssertEqual(c.fullEvalEveryN, books ? 5 : 1, p)
            XCTAssertEqual(c.partialEvalNumIters, books ? 64 : 32, p)
            XCTAssertEqual(c.inputDropout, books ? 0.5 : 0.2, p)
            XCTAssertEqual(c.kind, p.hasSuffix("sasrec") ? .sasrec : .hstu, p)
        }
        let large = try ConfigFile.load(path: Repo.path("configs/ml-20m/hstu-large.yaml"))
        XCTAssertEqual([large.itemDim, large.blocks, large.heads, large.dqk, large.dv], [256, 16, 8, 32, 32])
        let books = try ConfigFile.load(path: Repo.path("configs/amzn-books/sasrec.yaml"))
        XCTAssertEqual([books.itemDim, books.blocks, books.heads, books.ffnHidden, books.saveCkptEveryN], [64, 4, 4, 64, 10])
        XCTAssertEqual(books.paddedWidth, 61)
    }

    func testRenderRoundTrips() throws {
        var c = try ConfigFile.load(path: Repo.path("configs/ml-1m/hstu-large.yaml"))
        c.validation = true
        c.seenFilter = .fullHistory
        c.seed = 7
        XCTAssertEqual(try ConfigFile.parse(ConfigFile.render(c), file: "rendered"), c)
    }

    func testOverrides() throws {
        var c = TrainConfig()
        try ConfigFile.applyOverrides(["epochs=3", "training.lr=0.01", "validation=true", "kind=sasrec",
                                       "seen_filter=full_history", "loss.num_negatives=4"], to: &c)
        XCTAssertEqual(c.epochs, 3)
        XCTAssertEqual(c.lr, 0.01)
        XCTAssertTrue(c.validation)
        XCTAssertEqual(c.kind, .sasrec)
        XCTAssertEqual(c.seenFilter, .fullHistory)
        XCTAssertEqual(c.numNegatives, 4)
    }

    func testBadOverridesNameTheKey() {
        func expect(_ o: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            var c = TrainConfig()
            XCTAssertThrowsError(try ConfigFile.applyOverrides([o], to: &c), o, file: file, line: line) { e in
                XCTAssertTrue("\(e)".contains(fragment), "\(o): \(e)", file: file, line: line)
            }
        }
        expect("epochz=3", "key 'epochz': unknown key")
        expect("epochs=three", "key 'training.epochs': expected an integer, got 'three'")
        expect("epochs", "expected key=value")
        expect("validation=yes", "expected true or false")
        expect("kind=bert", "one of hstu, sasrec")
        expect("model.epochs=3", "unknown key")
        expect("epochs=0", "must be positive")
        expect("input_dropout=1.5", "must be in [0, 1)")
        expect("loss=bce", "requires temperature 1.0")
        expect("lr=nan", "expected a number")
    }

    func testBadFilesNameFileLineAndKey() throws {
        func expect(_ text: String, _ fragment: String, line: Int?, file: StaticString = #filePath, sourceLine: UInt = #line) {
            XCTAssertThrowsError(try ConfigFile.parse(text, file: "bad.yaml"), file: file, line: sourceLine) { e in
                guard let ce = e as? ConfigError else { return XCTFail("\(e)", file: file, line: sourceLine) }
                XCTAssertEqual(ce.line, line, "\(text): \(ce)", file: file, line: sourceLine)
                XCTAssertTrue("\(ce)".hasPrefix("bad.yaml"), "\(ce)", file: file, line: sourceLine)
                XCTAssertTrue("\(ce)".contains(fragment), "\(text): \(ce)", file: file, line: sourceLine)
            }
        }
        expect("model:\n  item_dimm: 3\n", "key 'item_dimm': unknown key", line: 2)
        expect("model:\n  item_dim: 3.5\n", "expected an integer, got '3.5'", line: 2)
        expect("training:\n  item_dim: 3\n", "belongs in section 'model'", line: 2)
        expect("model:\n  blocks: 1\n  blocks: 2\n", "duplicate key (first set on line 2)", line: 3)
        expect("models:\n  blocks: 1\n", "unknown section", line: 1)
        expect("model:\n\tblocks: 1\n", "tabs", line: 2)
        expect("  blocks: 1\n", "outside a section", line: 1)
        expect("name: \"unterminated\n", "unterminated quote", line: 1)
        expect("model:\n  blocks 1\n", "expected 'key: value'", line: 2)
        // Valid: comments, quotes, top-level keys after a section, CRLF.
        let c = try ConfigFile.parse("# x\nname: \"a # b\"  # c\r\nmodel:\n  blocks: 3 # three\ndataset: d\n", file: "ok.yaml")
        XCTAssertEqual(c.name, "a # b")
        XCTAssertEqual(c.blocks, 3)
        XCTAssertEqual(c.dataset, "d")
    }

    func testMissingFileAndInvalidValues() throws {
        XCTAssertThrowsError(try ConfigFile.load(path: "/nonexistent/x.yaml")) { e in
            XCTAssertTrue("\(e)".contains("config file not found"), "\(e)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gr-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("c.yaml").path
        try "model:\n  kind: sasrec\n  item_dim: 50\n  heads: 3\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ConfigFile.load(path: p)) { e in
            XCTAssertTrue("\(e)".contains("not divisible by heads 3"), "\(e)")
        }
    }
}
