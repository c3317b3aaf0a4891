/// Errors of the evaluation module: rank files and comparisons. Each names the file and line.
public enum EvalError: Error, CustomStringConvertible, Equatable {
    /// A rank file could not be read or written.
    case io(path: String, message: String)
    /// A rank file line that does not parse (`line` is 1-based).
    case malformed(path: String, line: Int, message: String)
    /// Two rank lists give the same user different targets, so they evaluated different splits.
    case targetMismatch(user: Int, targetA: Int32, targetB: Int32)
    /// A user listed twice in one rank list (`list` is "A" or "B").
    case duplicateUser(user: Int, list: String)

    public var description: String {
        switch self {
        case let .io(path, message): return "\(path): \(message)"
        case let .malformed(path, line, message): return "\(path):\(line): \(message)"
        case let .targetMismatch(user, a, b):
            return "user \(user): target \(a) in the first rank list but \(b) in the second (different splits?)"
        case let .duplicateUser(user, list):
            return "user \(user) appears more than once in rank list \(list)"
        }
    }
}
