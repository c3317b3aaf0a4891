import Foundation
@testable import GRCLI
import GRInference
import XCTest

final class RecommendCLITests: XCTestCase {
    func render(_ args: [String]) throws -> String {
        let command = try GRCommand.parseAsRoot(["recommend"] + args)
        return try XCTUnwrap(command as? RecommendCommand).render()
    }

    func testTableJSONAndErrors() throws {
        let f = try InferenceFixture.make(kind: .hstu)
        defer { f.remove() }
        let base = ["--checkpoint", f.checkpoint, "--data", f.directory.path]
        let table = try render(base + ["--history", "12,7,3", "--timestamps", "100,200,300", "-k", "4"])
        let lines = table.split(separator: "\n")
        XCTAssertEqual(lines.count, 5, table)
        XCTAssertEqual(lines[0].split(separator: " ").map(String.init), ["rank", "item", "score", "title"])
        XCTAssertTrue(lines[1].hasPrefix("   1  "), table)   // numbers right-aligned under their headers
        XCTAssertEqual(lines.map { $0.count > 4 }, [true, true, true, true, true])
        XCTAssertTrue(lines[1].contains("Item "), table)

        let json = try render(base + ["--history", "12,7,3", "--timestamps", "100,200,300", "-k", "4", "--json"])
        struct Output: Decodable { let model: String; let items: [Int32]; let scores: [Float]; let titles: [String?] }
        let out = try JSONDecoder().decode(Output.self, from: Data(json.utf8))
        XCTAssertEqual(out.items.count, 4)
        XCTAssertTrue(out.model.hasPrefix("model.safetensors@"))
        XCTAssertEqual(out.titles, out.items.map { "Item \($0)" })
        // The same answer as the library.
        let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
        let want = try rec.recommend([RecommendQuery(history: [12, 7, 3], timestamps: [100, 200, 300], k: 4)])[0]
        XCTAssertEqual(out.items, want.items)
        XCTAssertFalse(Set(out.items).contains(12))
        // --include-seen and no data directory (every id ranked, no titles).
        let seen = try render(["--checkpoint", f.checkpoint, "--history", "12", "-k", "40", "--include-seen", "--json"])
        let all = try JSONDecoder().decode(Output.self, from: Data(seen.utf8))
        XCTAssertTrue(all.items.contains(12))
        XCTAssertTrue(all.items.contains(7))   // not in the store's corpus, ranked without --data
        XCTAssertEqual(all.titles, [String?](repeating: nil, count: 40))

        func message(_ args: [String]) -> String {
            switch Result(catching: { try self.render(args) }) {
            case .success: return ""
            case .failure(let error): return "\(error)"
            }
        }
        XCTAssertTrue(message(base + ["--history", "12,x7,3"]).contains("--history: item 2 ('x7')"))
        XCTAssertTrue(message(base + ["--history", "12,7,0"]).contains("--history item 3 (history[2])"))
        XCTAssertTrue(message(base + ["--history", "12,7,99"]).contains("item id 99 is not in 1...40"))
        XCTAssertTrue(message(base + ["--history", "12,7", "--timestamps", "1"]).contains("--timestamps"))
        XCTAssertTrue(message(base + ["--history", "12", "-k", "0"]).contains("--k"))
        XCTAssertTrue(message(base + ["--history", "12", "-k", "1000"]).contains("1...39"))
        XCTAssertTrue(message(["--checkpoint", f.directory.path + "/none.safetensors", "--history", "1"])
                        .contains("no such checkpoint file"))
        XCTAssertTrue(message(base + ["--data", "/nonexistent/dir", "--history", "1"]).contains("nonexistent"))
    }
}
