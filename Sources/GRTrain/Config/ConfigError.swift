/// A bad config file or `--set` override; names the file (or "--set"), the line when known and the key.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let key: String?
    public let message: String

    public init(file: String, line: Int?, key: String?, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let key { s += ": key '\(key)'" }
        return s + ": " + message
    }
}
