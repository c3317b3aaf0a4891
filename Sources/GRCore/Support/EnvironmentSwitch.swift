import Foundation

/// On/off switches read from environment variables (`GR_PROFILE=1`, `GR_NCCL_OVERLAP=on`, ...),
/// parsed the same way everywhere: unset or empty → the default; `1`, `on`, `true`, `yes` → on;
/// `0`, `off`, `false`, `no` → off (any letter case). Any other value is a mistake the user must
/// hear about: `value` stops the program with a message naming the variable and what it holds,
/// rather than silently taking the default.
public enum EnvironmentSwitch {
    public struct InvalidValue: Error, CustomStringConvertible, Equatable {
        public let name: String
        public let value: String
        public var description: String {
            "environment variable \(name)=\"\(value)\" is not a switch: use 1/on/true/yes or 0/off/false/no"
        }
    }

    /// The switch's state for `value` (nil: unset), or why `value` is not one.
    public static func parse(_ name: String, value: String?, default defaultValue: Bool) -> Result<Bool, InvalidValue> {
        guard let raw = value?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return .success(defaultValue) }
        switch raw.lowercased() {
        case "1", "on", "true", "yes": return .success(true)
        case "0", "off", "false", "no": return .success(false)
        default: return .failure(InvalidValue(name: name, value: raw))
        }
    }

    /// The switch `name` of this process's environment; exits with status 2 and a message on
    /// stderr when it holds something else than a switch value.
    public static func value(_ name: String, default defaultValue: Bool) -> Bool {
        switch parse(name, value: ProcessInfo.processInfo.environment[name], default: defaultValue) {
        case .success(let on): return on
        case .failure(let error):
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(2)
        }
    }
}
