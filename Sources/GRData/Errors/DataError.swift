/// Everything that can go wrong reading raw data, writing or opening a sequence store, or
/// downloading a dataset. Each case names the file and, for text input, the 1-based line and the
/// field, so that a user can open the file at the right place.
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// A required input file or folder does not exist.
    case missingFile(path: String, what: String)
    /// The file exists but holds no data lines.
    case emptyFile(path: String)
    /// A line has the wrong number of fields (wrong separator, or a truncated last line).
    case malformedLine(path: String, line: Int, expectedFields: Int, foundFields: Int, hint: String)
    /// One field of a line could not be parsed.
    case invalidField(path: String, line: Int, field: String, value: String, expected: String)
    /// A value parsed but is out of the range the format allows.
    case outOfRange(path: String, line: Int, field: String, value: String, allowed: String)
    /// A sequence store file is shorter than its header says (interrupted write, partial copy).
    case storeTruncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// A sequence store is not one (bad magic), or its contents fail a check.
    case storeCorrupted(path: String, detail: String)
    /// A store written by a newer/older incompatible format version.
    case storeVersion(path: String, found: UInt32, supported: UInt32)
    /// A download could not be completed or verified.
    case downloadFailed(url: String, reason: String)
    /// An I/O failure (cannot create, write or rename a file).
    case io(path: String, reason: String)
    /// A bad command-line or API argument.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .missingFile(path, what):
            return "\(path): \(what) not found"
        case let .emptyFile(path):
            return "\(path): file is empty (no data lines)"
        case let .malformedLine(path, line, expected, found, hint):
            return "\(path):\(line): expected \(expected) fields, found \(found)\(hint.isEmpty ? "" : " (\(hint))")"
        case let .invalidField(path, line, field, value, expected):
            return "\(path):\(line): field '\(field)' = \"\(value)\" is not \(expected)"
        case let .outOfRange(path, line, field, value, allowed):
            return "\(path):\(line): field '\(field)' = \(value) is out of range (\(allowed))"
        case let .storeTruncated(path, expected, actual):
            return "\(path): truncated sequence store: header says \(expected) bytes, file has \(actual)"
        case let .storeCorrupted(path, detail):
            return "\(path): corrupted sequence store: \(detail)"
        case let .storeVersion(path, found, supported):
            return "\(path): sequence store format version \(found) is not supported (this build reads version \(supported)); re-run `gr data prepare`"
        case let .downloadFailed(url, reason):
            return "download of \(url) failed: \(reason)"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .invalidArgument(message):
            return message
        }
    }
}
