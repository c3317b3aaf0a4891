import Foundation

/// Writes one JSON object per line to `path`, each line written to the file as soon as it is
/// complete (no buffering), so `tail -f` and a crash both see whole lines.
///
/// Encoding: keys sorted; supported values are String, Bool, Int/Int32/Int64/UInt64 and the
/// other integer types, Double/Float (shortest round-trip form; NaN and ±∞ become `null`, which
/// JSON cannot otherwise express), nil / NSNull (`null`), arrays and `[String: Any]` of those.
/// Like `TensorBoardWriter`, a log file is an append-only stream, not written by rename; write
/// errors after creation are printed once to stderr, kept in `failure`, and later lines dropped.
public final class JSONLinesWriter: @unchecked Sendable {
    public let path: String
    /// The first write or encoding error, if any.
    public private(set) var failure: LoggingError?
    private let handle: FileHandle
    private let lock = NSLock()
    private var closed = false

    /// Creates (or, with `append`, extends — e.g. when resuming a run) the file at `path`.
    public init(path: String, append: Bool = false) throws {
        self.path = path
        let fm = FileManager.default
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        if !append || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                throw LoggingError.io(path: path, message: "cannot create file")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw LoggingError.io(path: path, message: "cannot open for writing") }
        if append { _ = try? h.seekToEnd() }
        handle = h
    }

    deinit { close() }

    /// Writes `object` as one line.
    public func write(_ object: [String: Any]) {
        let line: String
        do { line = try Self.encode(object) + "\n" } catch let e as LoggingError {
            report(e); return
        } catch { report(.io(path: path, message: "\(error)")); return }
        lock.lock(); defer { lock.unlock() }
        if closed || failure != nil { return }
        do { try handle.write(contentsOf: Data(line.utf8)) } catch {
            reportLocked(.io(path: path, message: "cannot write: \(error)"))
        }
    }

    /// Closes the file; later writes are ignored.
    public func close() {
        lock.lock(); defer { lock.unlock() }
        if closed { return }
        try? handle.close()
        closed = true
    }

    private func report(_ e: LoggingError) {
        lock.lock(); defer { lock.unlock() }
        reportLocked(e)
    }

    private func reportLocked(_ e: LoggingError) {
        if failure == nil {
            failure = e
            FileHandle.standardError.write(Data("warning: \(path): \(e)\n".utf8))
        }
    }

    /// One JSON value (no line end); throws `LoggingError.unsupportedValue` for other types.
    public static func encode(_ value: Any, key: String = "") throws -> String {
        // Optionals arrive wrapped in Any: unwrap (nil → null).
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let inner = mirror.children.first?.value else { return "null" }
            return try encode(inner, key: key)
        }
        switch value {
        case is NSNull: return "null"
        case let s as String: return quote(s)
        case let b as Bool: return b ? "true" : "false"
        case let i as Int: return String(i)
        case let i as Int64: return String(i)
        case let i as Int32: return String(i)
        case let i as Int16: return String(i)
        case let i as Int8: return String(i)
        case let i as UInt: return String(i)
        case let i as UInt64: return String(i)
        case let i as UInt32: return String(i)
        case let i as UInt16: return String(i)
        case let i as UInt8: return String(i)
        case let d as Double: return d.isFinite ? d.description : "null"
        case let f as Float: return f.isFinite ? f.description : "null"
        case let dict as [String: Any]:
            let parts = try dict.keys.sorted().map { k in
                "\(quote(k)):\(try encode(dict[k]!, key: key.isEmpty ? k : "\(key).\(k)"))"
            }
            return "{" + parts.joined(separator: ",") + "}"
        case let array as [Any]:
            return "[" + (try array.enumerated().map { try encode($1, key: "\(key)[\($0)]") }).joined(separator: ",") + "]"
        default:
            throw LoggingError.unsupportedValue(key: key, type: String(describing: type(of: value)))
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
