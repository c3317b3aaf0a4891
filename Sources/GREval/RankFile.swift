import Foundation

/// One user's evaluation outcome: the store's user index, the target id and its 1-based rank
/// (`maxRank + 1` when the target was not in the filtered top-k).
public struct RankRecord: Equatable, Sendable {
    public var user: Int
    public var target: Int32
    public var rank: Int
    public init(user: Int, target: Int32, rank: Int) { self.user = user; self.target = target; self.rank = rank }
}

/// Per-user rank files, so that two models can be compared user by user (`gr eval --ranks-out`).
///
/// Format: CSV with the header line `user,target,rank`, then one line per user in the order given,
/// decimal integers, `\n` line ends. Written atomically (a temporary file in the same folder,
/// then renamed).
public enum RankFile {
    /// The header line (without its line end).
    public static let header = "user,target,rank"

    /// Writes `records` to `path`, replacing any existing file.
    public static func write(_ records: [RankRecord], to path: String) throws {
        var text = header + "\n"
        text.reserveCapacity(records.count * 16 + 32)
        for r in records { text += "\(r.user),\(r.target),\(r.rank)\n" }
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try Data(text.utf8).write(to: tmp)
            // rename(2) replaces an existing file atomically (Foundation's replaceItemAt does not
            // work on Linux for this).
            guard rename(tmp.path, path) == 0 else {
                throw EvalError.io(path: path, message: "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw EvalError.io(path: path, message: "cannot write rank file: \(error)")
        }
    }

    /// Reads a file written by `write`.
    public static func read(_ path: String) throws -> [RankRecord] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EvalError.io(path: path, message: "cannot read rank file: \(error)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvalError.malformed(path: path, line: 1, message: "not UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first, first == header else {
            throw EvalError.malformed(path: path, line: 1, message: "expected header '\(header)'")
        }
        var out = [RankRecord]()
        out.reserveCapacity(lines.count - 1)
        for (i, line) in lines.enumerated().dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 3, let user = Int(f[0]), let target = Int32(f[1]), let rank = Int(f[2]) else {
                throw EvalError.malformed(path: path, line: i + 1, message: "expected 'user,target,rank', got '\(line)'")
            }
            guard rank >= 1 else {
                throw EvalError.malformed(path: path, line: i + 1, message: "rank \(rank) is not 1-based")
            }
            out.append(RankRecord(user: user, target: target, rank: rank))
        }
        return out
    }
}
