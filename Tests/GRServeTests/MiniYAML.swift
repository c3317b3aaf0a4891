import Foundation

/// Just enough YAML to read openapi.yaml in a test: block maps, block lists (`- x`, `- key: v`),
/// flow lists of scalars (`[a, b]`), quoted and plain scalars, folded text (`>-`, `|`). Anything
/// else is a test failure, not a silent misread: unknown shapes throw.
indirect enum MiniYAML: Equatable {
    case map([String: MiniYAML])
    case list([MiniYAML])
    case scalar(String)

    struct ParseError: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "openapi.yaml:\(line): \(reason)" }
    }

    subscript(_ key: String) -> MiniYAML? {
        if case .map(let m) = self { return m[key] }
        return nil
    }
    var map: [String: MiniYAML]? { if case .map(let m) = self { return m } else { return nil } }
    var list: [MiniYAML]? { if case .list(let l) = self { return l } else { return nil } }
    var string: String? { if case .scalar(let s) = self { return s } else { return nil } }

    static func parse(_ text: String) throws -> MiniYAML {
        var lines: [(indent: Int, text: String, number: Int)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = raw.drop(while: { $0 == " " })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            lines.append((raw.count - trimmed.count, String(trimmed), i + 1))
        }
        var p = 0
        let root = try block(&lines, &p, indent: 0)
        if p < lines.count { throw ParseError(line: lines[p].number, reason: "unexpected indentation") }
        return root
    }

    private static func block(_ lines: inout [(indent: Int, text: String, number: Int)], _ p: inout Int,
                              indent: Int) throws -> MiniYAML {
        guard p < lines.count else { return .scalar("") }
        if lines[p].text.hasPrefix("- ") {
            var items: [MiniYAML] = []
            while p < lines.count && lines[p].indent == indent && lines[p].text.hasPrefix("- ") {
                let rest = String(lines[p].text.dropFirst(2))
                if rest.contains(": ") || rest.hasSuffix(":") {
                    // "- key: v" opens a map whose keys sit two columns further in.
                    lines[p] = (indent + 2, rest, lines[p].number)
                    items.append(try block(&lines, &p, indent: indent + 2))
                } else {
                    items.append(parseScalar(rest))
                    p += 1
                }
            }
            return .list(items)
        }
        var map: [String: MiniYAML] = [:]
        while p < lines.count && lines[p].indent == indent {
            let (_, text, number) = lines[p]
            guard let colon = keyEnd(text) else { throw ParseError(line: number, reason: "expected `key: value`") }
            let key = unquote(String(text[..<colon]))
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            p += 1
            if value.isEmpty {
                map[key] = p < lines.count && lines[p].indent > indent
                    ? try block(&lines, &p, indent: lines[p].indent) : .scalar("")
            } else if [">-", ">", "|", "|-"].contains(value) {
                var parts: [String] = []
                while p < lines.count && lines[p].indent > indent { parts.append(lines[p].text); p += 1 }
                map[key] = .scalar(parts.joined(separator: " "))
            } else {
                map[key] = parseScalar(value)
            }
        }
        if p < lines.count && lines[p].indent > indent {
            throw ParseError(line: lines[p].number, reason: "unexpected indentation")
        }
        return .map(map)
    }

    /// The colon ending a key (outside quotes), followed by a space or the end of the line.
    private static func keyEnd(_ text: String) -> String.Index? {
        var quote: Character?
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if let q = quote { if c == q { quote = nil } } else if c == "'" || c == "\"" { quote = c } else if c == ":" {
                let next = text.index(after: i)
                if next == text.endIndex || text[next] == " " { return i }
            }
            i = text.index(after: i)
        }
        return nil
    }

    private static func parseScalar(_ s: String) -> MiniYAML {
        if s.hasPrefix("[") && s.hasSuffix("]") {
            let inner = s.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            return .list(inner.isEmpty ? [] : inner.split(separator: ",").map {
                .scalar(unquote($0.trimmingCharacters(in: .whitespaces)))
            })
        }
        return .scalar(unquote(s))
    }

    private static func unquote(_ s: String) -> String {
        if s.count >= 2, let f = s.first, f == s.last, f == "'" || f == "\"" { return String(s.dropFirst().dropLast()) }
        return s
    }
}
