import Foundation

/// A strict parser for the YAML subset the presets use — no YAML library:
///
/// ```yaml
/// # comment
/// name: ml-1m/hstu-large        # top-level scalar
/// model:                        # a section header (no value)
///   kind: hstu                  # indented `key: value` inside the section
///   item_dim: 50
/// ```
///
/// Rules: one level of nesting; sections are `model`, `loss`, `training`, `evaluation`; every key
/// must be known (`ConfigKeys`) and sit in its own section (or at the top level); no duplicates;
/// spaces only (tabs are errors); values are scalars, optionally in single or double quotes;
/// `#` starts a comment outside quotes. Keys not given keep `TrainConfig`'s defaults.
/// Every error names file, line and key.
public enum ConfigFile {
    /// Reads and validates `path`, then applies `overrides` ("key=value", `--set`) and validates again.
    public static func load(path: String, overrides: [String] = []) throws -> TrainConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError(file: path, line: nil, key: nil, message: "config file not found")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: nil, key: nil, message: "cannot read the file as UTF-8 text")
        }
        var config = try parse(text, file: path)
        try config.validate(source: path)
        try applyOverrides(overrides, to: &config)
        return config
    }

    /// Parses YAML-subset text into a config (not yet validated).
    public static func parse(_ text: String, file: String) throws -> TrainConfig {
        var config = TrainConfig()
        var section: String? = nil  // nil: top level
        var seen: [String: Int] = [:]
        var sectionsSeen: Set<String> = []
        for (i, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let lineNo = i + 1
            func fail(_ key: String?, _ message: String) -> ConfigError {
                ConfigError(file: file, line: lineNo, key: key, message: message)
            }
            var line = String(rawLine)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.contains("\t") { throw fail(nil, "tabs are not allowed; indent with spaces") }
            line = try stripComment(line, fail: { fail(nil, $0) })
            let trimmedRight = String(line.reversed().drop(while: { $0 == " " }).reversed())
            if trimmedRight.isEmpty { continue }
            let indent = trimmedRight.prefix(while: { $0 == " " }).count
            let body = String(trimmedRight.dropFirst(indent))
            guard let colon = body.firstIndex(of: ":") else { throw fail(nil, "expected 'key: value'") }
            let key = String(body[..<colon]).trimmingCharacters(in: .whitespaces)
            let rest = String(body[body.index(after: colon)...])
            if !rest.isEmpty && !rest.hasPrefix(" ") { throw fail(key, "expected a space after ':'") }
            let value = try unquote(rest.trimmingCharacters(in: .whitespaces), fail: { fail(key, $0) })
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw fail(key, "invalid key name")
            }
            if indent == 0 {
                if value.isEmpty && rest.trimmingCharacters(in: .whitespaces).isEmpty {
                    // Section header.
                    guard ConfigKeys.sections.contains(key), !key.isEmpty else {
                        throw fail(key, "unknown section (known: \(ConfigKeys.sections.filter { !$0.isEmpty }.joined(separator: ", ")))")
                    }
                    guard !sectionsSeen.contains(key) else { throw fail(key, "section appears twice") }
                    sectionsSeen.insert(key)
                    section = key
                    continue
                }
                section = nil
            } else if section == nil {
                throw fail(key, "indented key outside a section")
            }
            guard let k = ConfigKeys.all.first(where: { $0.name == key }) else {
                throw fail(key, "unknown key")
            }
            if let section, k.section != section {
                throw fail(key, "belongs in section '\(k.section.isEmpty ? "<top level>" : k.section)', not '\(section)'")
            }
            if let first = seen[k.qualifiedName] { throw fail(key, "duplicate key (first set on line \(first))") }
            seen[k.qualifiedName] = lineNo
            try k.set(value, in: &config, file: file, line: lineNo)
        }
        return config
    }

    /// Applies "key=value" overrides (bare or `section.key`), then validates.
    public static func applyOverrides(_ overrides: [String], to config: inout TrainConfig) throws {
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else {
                throw ConfigError(file: "--set", line: nil, key: nil, message: "expected key=value, got '\(o)'")
            }
            let name = String(o[..<eq]).trimmingCharacters(in: .whitespaces)
            let value = String(o[o.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            guard let k = ConfigKeys.find(name) else {
                throw ConfigError(file: "--set", line: nil, key: name, message: "unknown key")
            }
            try k.set(value, in: &config, file: "--set", line: nil)
        }
        if !overrides.isEmpty { try config.validate(source: "--set") }
    }

    /// The config as a file this parser reads back to an equal config (every key written).
    public static func render(_ config: TrainConfig) -> String {
        var out = ""
        for section in ConfigKeys.sections {
            let keys = ConfigKeys.all.filter { $0.section == section }
            if !section.isEmpty { out += "\(section):\n" }
            for k in keys {
                let v = k.value(in: config)
                let needsQuotes = v.isEmpty || v.contains("#") || v.contains(":") || v.hasPrefix(" ") || v.hasSuffix(" ")
                    || v.hasPrefix("\"") || v.hasPrefix("'")
                let shown = needsQuotes ? "\"\(v.replacingOccurrences(of: "\"", with: ""))\"" : v
                out += (section.isEmpty ? "" : "  ") + "\(k.name): \(shown)\n"
            }
        }
        return out
    }

    // MARK: - lexing helpers

    /// Removes a `#` comment that is not inside quotes.
    static func stripComment(_ line: String, fail: (String) -> ConfigError) throws -> String {
        var quote: Character? = nil
        var out = ""
        for ch in line {
            if let q = quote {
                if ch == q { quote = nil }
            } else if ch == "\"" || ch == "'" {
                quote = ch
            } else if ch == "#" {
                break
            }
            out.append(ch)
        }
        if quote != nil { throw fail("unterminated quote") }
        return out
    }

    static func unquote(_ v: String, fail: (String) -> ConfigError) throws -> String {
        guard let first = v.first, first == "\"" || first == "'" else { return v }
        guard v.count >= 2, v.last == first else { throw fail("unterminated quote") }
        let inner = String(v.dropFirst().dropLast())
        if inner.contains(first) { throw fail("quote inside a quoted value") }
        return inner
    }
}
