/// Errors of the log writers and readers; each names the file (and byte offset when reading).
public enum LoggingError: Error, CustomStringConvertible, Equatable {
    /// A log file could not be created, written or read.
    case io(path: String, message: String)
    /// An event file that does not decode: bad framing, CRC or protobuf at byte `offset`.
    case corrupt(path: String, offset: Int, message: String)
    /// A JSON-lines value that JSON cannot represent (`key` is the dotted path to it).
    case unsupportedValue(key: String, type: String)

    public var description: String {
        switch self {
        case let .io(path, message): return "\(path): \(message)"
        case let .corrupt(path, offset, message): return "\(path) at byte \(offset): \(message)"
        case let .unsupportedValue(key, type): return "JSON lines: value of '\(key)' has unsupported type \(type)"
        }
    }
}
