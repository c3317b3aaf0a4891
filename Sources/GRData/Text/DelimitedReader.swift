/// A fast reader of separator-delimited text lines over a memory-mapped file (`\n` or `\r\n` line
/// ends). It never copies the file: fields are byte ranges, parsed on demand into integers, floats
/// or strings. Every parse failure is a `DataError` naming the file, the 1-based line and the field.
///
/// The separator is one or more bytes (`::` for MovieLens-1M `.dat`, `\t` for ml-100k, `,`, `|`).
/// With `quoted` (CSV), a field that starts with `"` runs to the matching quote; `""` inside is a
/// literal quote (RFC 4180), which `string(_:)` undoes.
public struct DelimitedReader {
    public let path: String
    public let separator: [UInt8]
    public let quoted: Bool
    /// Names of the fields, for error messages; also the expected field count unless
    /// `minFields`/`maxFields` say otherwise.
    public let fieldNames: [String]
    public let minFields: Int
    public let maxFields: Int

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    /// 1-based number of the current line.
    public private(set) var lineNumber = 0
    /// Byte ranges of the current line's fields.
    public private(set) var fields: [Range<Int>] = []
    private var lineRange: Range<Int> = 0..<0

    public init(file: MappedFile, separator: String, fieldNames: [String], minFields: Int? = nil,
                maxFields: Int? = nil, quoted: Bool = false) {
        self.path = file.path
        self.bytes = file.bytes
        self.separator = Array(separator.utf8)
        self.fieldNames = fieldNames
        self.minFields = minFields ?? fieldNames.count
        self.maxFields = maxFields ?? fieldNames.count
        self.quoted = quoted
        fields.reserveCapacity(max(fieldNames.count, 8))
        // Skip a UTF-8 byte-order mark (spreadsheet exports).
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { position = 3 }
    }

    /// Advances to the next non-empty line and splits it. Returns false at the end of the file.
    /// Throws `malformedLine` when the field count is outside `minFields...maxFields`.
    public mutating func next() throws -> Bool {
        while position < bytes.count {
            lineNumber += 1
            let start = position
            var end = start
            // Find the end of the line; quoted fields may not span lines (MovieLens never does).
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            position = end + 1
            var contentEnd = end
            if contentEnd > start && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            if contentEnd == start { continue }  // blank line
            lineRange = start..<contentEnd
            try split()
            return true
        }
        return false
    }

    private mutating func split() throws {
        fields.removeAll(keepingCapacity: true)
        let sep = separator, sepCount = sep.count, end = lineRange.upperBound
        var i = lineRange.lowerBound, fieldStart = i
        while i < end {
            let c = bytes[i]
            if quoted && c == 0x22 && i == fieldStart {  // opening quote
                i += 1
                while i < end {
                    if bytes[i] == 0x22 {
                        if i + 1 < end && bytes[i + 1] == 0x22 { i += 2; continue }
                        break
                    }
                    i += 1
                }
                if i >= end {
                    throw DataError.malformedLine(path: path, line: lineNumber, expectedFields: maxFields,
                                                  foundFields: fields.count + 1, hint: "unterminated quoted field")
                }
                i += 1
                continue
            }
            if c == sep[0] && i + sepCount <= end && (sepCount == 1 || matchesSeparator(at: i)) {
                fields.append(fieldStart..<i)
                i += sepCount
                fieldStart = i
                continue
            }
            i += 1
        }
        fields.append(fieldStart..<end)
        if fields.count < minFields || fields.count > maxFields {
            throw DataError.malformedLine(path: path, line: lineNumber, expectedFields: maxFields,
                                          foundFields: fields.count, hint: separatorHint())
        }
    }

    private func matchesSeparator(at i: Int) -> Bool {
        for k in 1..<separator.count where bytes[i + k] != separator[k] { return false }
        return true
    }

    /// Explains a wrong field count: another separator present, or the last line cut short.
    private func separatorHint() -> String {
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lineRange]), as: UTF8.self)
        let mine = String(decoding: separator, as: UTF8.self)
        let candidates = ["::", "\t", ",", "|", ";"].filter { $0 != mine && !(mine == "::" && $0 == ":") }
        if let other = candidates.first(where: { line.contains($0) }) {
            let shown = other == "\t" ? "\\t" : other
            let expected = mine == "\t" ? "\\t" : mine
            return "found '\(shown)' but this format separates fields with '\(expected)': wrong separator?"
        }
        if fields.count < minFields && position >= bytes.count && (bytes.last ?? 0x0A) != 0x0A {
            return "the file ends inside this line: truncated file?"
        }
        if fields.count < minFields, fields.count < fieldNames.count {
            return "missing field '\(fieldNames[fields.count])'"
        }
        return "fields are separated by '\(mine == "\t" ? "\\t" : mine)'"
    }

    public var fieldCount: Int { fields.count }

    /// Name of field `i` for messages.
    public func name(_ i: Int) -> String { i < fieldNames.count ? fieldNames[i] : "field \(i + 1)" }

    /// The raw bytes of field `i` (quotes not removed).
    @inline(__always)
    public func raw(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[fields[i]]) }

    /// Field `i` as text, decoded from UTF-8 (or ISO-8859-1 with `latin1`), quotes removed.
    public func string(_ i: Int, latin1: Bool = false) -> String {
        var r = fields[i]
        var unescape = false
        if quoted, r.count >= 2, bytes[r.lowerBound] == 0x22, bytes[r.upperBound - 1] == 0x22 {
            r = r.lowerBound + 1 ..< r.upperBound - 1
            unescape = true
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[r])
        var s: String
        if latin1 {
            s = String(String.UnicodeScalarView(slice.map { Unicode.Scalar($0) }))
        } else {
            s = String(decoding: slice, as: UTF8.self)
        }
        if unescape { s = s.replacingOccurrences(of: "\"\"", with: "\"") }
        return s
    }

    private func fail(_ i: Int, _ expected: String) -> DataError {
        DataError.invalidField(path: path, line: lineNumber, field: name(i), value: string(i), expected: expected)
    }

    /// Field `i` as a decimal integer (optional sign, no spaces).
    @inline(__always)
    public func int(_ i: Int) throws -> Int64 {
        let r = fields[i]
        var j = r.lowerBound
        let end = r.upperBound
        var negative = false
        if j < end && (bytes[j] == 0x2D || bytes[j] == 0x2B) { negative = bytes[j] == 0x2D; j += 1 }
        guard j < end, end - j <= 18 else { throw fail(i, "an integer") }
        var v: Int64 = 0
        while j < end {
            let d = Int64(bytes[j]) &- 0x30
            guard d >= 0 && d <= 9 else { throw fail(i, "an integer") }
            v = v &* 10 &+ d
            j += 1
        }
        return negative ? -v : v
    }

    /// Field `i` as a decimal number: `[sign] digits [. digits] [e[sign]digits]`, e.g. `4`, `3.5`, `5.0`.
    public func double(_ i: Int) throws -> Double {
        let r = fields[i]
        var j = r.lowerBound
        let end = r.upperBound
        var negative = false
        if j < end && (bytes[j] == 0x2D || bytes[j] == 0x2B) { negative = bytes[j] == 0x2D; j += 1 }
        var mantissa: Double = 0, digits = 0, scale = 0
        while j < end, bytes[j] >= 0x30, bytes[j] <= 0x39 { mantissa = mantissa * 10 + Double(bytes[j] - 0x30); j += 1; digits += 1 }
        if j < end && bytes[j] == 0x2E {
            j += 1
            while j < end, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                mantissa = mantissa * 10 + Double(bytes[j] - 0x30); j += 1; digits += 1; scale -= 1
            }
        }
        guard digits > 0 else { throw fail(i, "a number") }
        if j < end && (bytes[j] == 0x65 || bytes[j] == 0x45) {
            j += 1
            var eNeg = false, e = 0, eDigits = 0
            if j < end && (bytes[j] == 0x2D || bytes[j] == 0x2B) { eNeg = bytes[j] == 0x2D; j += 1 }
            while j < end, bytes[j] >= 0x30, bytes[j] <= 0x39, e < 10_000 { e = e * 10 + Int(bytes[j] - 0x30); j += 1; eDigits += 1 }
            guard eDigits > 0 else { throw fail(i, "a number") }
            scale += eNeg ? -e : e
        }
        guard j == end else { throw fail(i, "a number") }
        var v = scale >= 0 ? mantissa * pow10(scale) : mantissa / pow10(-scale)
        if negative { v = -v }
        guard v.isFinite else { throw fail(i, "a finite number") }
        return v
    }

    private func pow10(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<min(n, 400) { r *= 10 }
        return r
    }

    /// True when field `i` is empty.
    public func isEmpty(_ i: Int) -> Bool { fields[i].isEmpty }
}
