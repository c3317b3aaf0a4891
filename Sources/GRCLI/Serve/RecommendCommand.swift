import ArgumentParser
import Foundation
import GRCore
import GRInference

/// `gr recommend`: the top-K items of one history from a checkpoint, as a table or JSON.
public struct RecommendCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "recommend",
        abstract: "Top-K recommendations for one history from a checkpoint (table or --json).")

    @Option(name: .long, help: "A checkpoint written by `gr train`.")
    var checkpoint: String

    @Option(name: .long, help: "The data store (titles and the ranking corpus); without it every id 1...max_item_id is ranked.")
    var data: String?

    @Option(name: .long, help: "Item ids, oldest first, comma-separated (e.g. 12,7,3).")
    var history: String

    @Option(name: .long, help: "Unix seconds, one per history item, comma-separated (default: all 0).")
    var timestamps: String?

    @Option(name: [.customShort("k"), .long], help: "How many items to return.")
    var k: Int = 10

    @Flag(name: .long, help: "Print JSON {model, items, scores, titles}.")
    var json = false

    @Flag(name: .customLong("include-seen"), help: "Do not remove the history's items from the answer.")
    var includeSeen = false

    @Option(name: .long, help: "CPU threads.")
    var threads: Int?

    @Option(name: .long, help: "Arithmetic of the model's layer products: f32, bf16 (AVX-512 BF16; f32 on other CPUs) or int16 (AVX2; f32 on other CPUs).")
    var precision: InferencePrecision = .f32

    public init() {}

    public func run() throws {
        print(try render(), terminator: "")
    }

    /// The command's output (the table or the JSON document, newline-terminated).
    func render() throws -> String {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threads = threads
        }
        let ids = try Self.parseList(history, option: "--history", as: Int32.self)
        let ts = try timestamps.map { try Self.parseList($0, option: "--timestamps", as: Int64.self) }
        do {
            let engine = try Recommender.load(checkpoint: checkpoint, dataDirectory: data, cacheCapacity: 0,
                                              precision: precision)
            let query = RecommendQuery(history: ids, timestamps: ts, k: k, excludeSeen: !includeSeen)
            let r = try engine.recommend([query])[0]
            let titles = r.items.map { engine.title(of: $0) }
            return json ? try Self.json(engine.modelID, r, titles) : Self.table(r, titles)
        } catch let e as InferenceError {
            throw CLIFailure("invalid request: \(Self.optionName(e.field)): \(e.reason)")
        } catch {
            throw CLIFailure("\(error)")
        }
    }

    /// "history[3]" → "--history item 4 (history[3])", for messages that name the option.
    static func optionName(_ field: String) -> String {
        guard let open = field.firstIndex(of: "["), let i = Int(field[field.index(after: open)...].dropLast()) else {
            return "--\(field)"
        }
        return "--\(field[..<open]) item \(i + 1) (\(field))"
    }

    /// Comma-separated integers; an error names the option, the 1-based position and the text.
    static func parseList<T: FixedWidthInteger>(_ text: String, option: String, as: T.Type) throws -> [T] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        return try parts.enumerated().map { i, part in
            let s = part.trimmingCharacters(in: .whitespaces)
            guard let v = T(s) else {
                throw CLIFailure("\(option): item \(i + 1) ('\(s)') is not an integer in \(T.min)...\(T.max)")
            }
            return v
        }
    }

    static func table(_ r: Recommendation, _ titles: [String?]) -> String {
        let rows = r.items.indices.map { i in
            ["\(i + 1)", "\(r.items[i])", String(format: "%.4f", r.scores[i]), titles[i] ?? ""]
        }
        let header = ["rank", "item", "score", "title"]
        let widths = (0..<3).map { c in ([header] + rows).map { $0[c].count }.max()! }
        func line(_ cells: [String]) -> String {
            let numeric = (0..<3).map { String(repeating: " ", count: widths[$0] - cells[$0].count) + cells[$0] }
            var text = (numeric + [cells[3]]).joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text + "\n"
        }
        return line(header) + rows.map(line).joined()
    }

    struct Output: Encodable {
        let model: String
        let items: [Int32]
        let scores: [Float]
        let titles: [String?]
    }

    static func json(_ model: String, _ r: Recommendation, _ titles: [String?]) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(Output(model: model, items: r.items, scores: r.scores, titles: titles)),
                      as: UTF8.self) + "\n"
    }
}
