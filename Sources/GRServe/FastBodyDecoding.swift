import Foundation

/// A hand-written decoder for the well-formed request bodies of `/v1/recommend` and `/v1/score`:
/// one pass over the bytes, integers parsed straight into the arrays, no intermediate objects.
///
/// It is deliberately partial: it accepts only the plain shape every client sends — one JSON
/// object with known keys, each at most once; `history`/`timestamps`/`candidates` arrays of plain
/// integers (optional `-`, digits, no leading zeros, no fraction or exponent) that fit their type;
/// `k` such an integer; `exclude_seen` `true`/`false`; `user` a string of printable ASCII without
/// escapes — and answers nil for anything else (null, escapes, non-ASCII strings, numbers with a
/// fraction, an unknown or repeated key, a missing field, bad syntax, trailing bytes). A nil sends
/// the body through `RequestDecoding` (Foundation's JSONDecoder), which produces the 400
/// `{error, field}` answers, so every malformed body gets exactly the answer it got before this
/// fast path existed, and an accepted body decodes to the same value Foundation would give
/// (`FastBodyDecodingTests` checks both on every malformed case of the tests and on valid ones).
enum FastBodyDecoding {
    static func recommend(_ bytes: UnsafeRawBufferPointer) -> RecommendBody? {
        var p = Parser(bytes)
        var history: [Int32]?, timestamps: [Int64]?, k: Int?, excludeSeen: Bool?, user: String?
        let ok = p.object { key, p in
            switch key {
            case .history where history == nil: history = p.integers(Int32.self)
            case .timestamps where timestamps == nil: timestamps = p.integers(Int64.self)
            case .k where k == nil: k = p.integer(Int.self)
            case .excludeSeen where excludeSeen == nil: excludeSeen = p.boolean()
            case .user where user == nil: user = p.asciiString()
            default: return false
            }
            return true
        }
        guard ok, let history, let k else { return nil }
        return RecommendBody(history: history, timestamps: timestamps, k: k, excludeSeen: excludeSeen, user: user)
    }

    static func score(_ bytes: UnsafeRawBufferPointer) -> ScoreBody? {
        var p = Parser(bytes)
        var history: [Int32]?, timestamps: [Int64]?, candidates: [Int32]?, user: String?
        let ok = p.object { key, p in
            switch key {
            case .history where history == nil: history = p.integers(Int32.self)
            case .timestamps where timestamps == nil: timestamps = p.integers(Int64.self)
            case .candidates where candidates == nil: candidates = p.integers(Int32.self)
            case .user where user == nil: user = p.asciiString()
            default: return false
            }
            return true
        }
        guard ok, let history, let candidates else { return nil }
        return ScoreBody(history: history, timestamps: timestamps, candidates: candidates, user: user)
    }

    /// The keys the fast path knows (which of them a route accepts is the route's switch).
    enum Key {
        case history, timestamps, k, excludeSeen, user, candidates
    }

    /// A cursor over the body. Every method returns nil/false on anything outside the plain shape;
    /// after a failure the parser's state does not matter (the caller gives up).
    struct Parser {
        let base: UnsafePointer<UInt8>
        let end: Int
        var i = 0

        init(_ bytes: UnsafeRawBufferPointer) {
            base = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) }
                ?? UnsafeRawPointer(bitPattern: 1)!.assumingMemoryBound(to: UInt8.self)
            end = bytes.baseAddress == nil ? 0 : bytes.count
        }

        @inline(__always) mutating func skipSpace() {
            while i < end {
                let c = base[i]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                i += 1
            }
        }

        /// Consumes `byte` after optional whitespace.
        @inline(__always) mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < end && base[i] == byte else { return false }
            i += 1
            return true
        }

        /// `{ "key": value, ... }` and nothing after it but whitespace; `member` parses each value
        /// (false: give up).
        mutating func object(_ member: (Key, inout Parser) -> Bool) -> Bool {
            guard take(UInt8(ascii: "{")) else { return false }
            if take(UInt8(ascii: "}")) { return atEnd() }
            repeat {
                guard let key = key(), take(UInt8(ascii: ":")), member(key, &self) else { return false }
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}")) && atEnd()
        }

        mutating func atEnd() -> Bool {
            skipSpace()
            return i == end
        }

        /// A quoted key among the known ones (exact bytes: an escaped spelling falls back).
        mutating func key() -> Key? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = i
            while i < end && base[i] != UInt8(ascii: "\"") && base[i] != UInt8(ascii: "\\") { i += 1 }
            guard i < end && base[i] == UInt8(ascii: "\"") else { return nil }
            let word = UnsafeBufferPointer(start: base + start, count: i - start)
            i += 1
            func equals(_ s: StaticString) -> Bool {
                s.utf8CodeUnitCount == word.count && memcmp(s.utf8Start, word.baseAddress!, word.count) == 0
            }
            if equals("history") { return .history }
            if equals("timestamps") { return .timestamps }
            if equals("k") { return .k }
            if equals("exclude_seen") { return .excludeSeen }
            if equals("user") { return .user }
            if equals("candidates") { return .candidates }
            return nil
        }

        /// A plain JSON integer that fits `T`.
        mutating func integer<T: FixedWidthInteger & SignedInteger>(_: T.Type) -> T? {
            skipSpace()
            var negative = false
            if i < end && base[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            let start = i
            var magnitude: UInt64 = 0
            while i < end {
                let digit = base[i] &- UInt8(ascii: "0")
                guard digit < 10 else { break }
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(digit))
                guard !o1 && !o2 else { return nil }
                magnitude = m2
                i += 1
            }
            let digits = i - start
            guard digits > 0, digits == 1 || base[start] != UInt8(ascii: "0") else { return nil }
            // A fraction or an exponent: Foundation's rules (and its error) apply.
            if i < end && (base[i] == UInt8(ascii: ".") || base[i] | 0x20 == UInt8(ascii: "e")) { return nil }
            if negative {
                guard magnitude <= UInt64(T.max) + 1 else { return nil }
                return magnitude == 0 ? 0 : T(truncatingIfNeeded: 0 &- magnitude)
            }
            guard magnitude <= UInt64(T.max) else { return nil }
            return T(truncatingIfNeeded: magnitude)
        }

        /// `[int, int, ...]` of plain integers that fit `T`.
        mutating func integers<T: FixedWidthInteger & SignedInteger>(_: T.Type) -> [T]? {
            guard take(UInt8(ascii: "[")) else { return nil }
            var out: [T] = []
            if take(UInt8(ascii: "]")) { return out }
            out.reserveCapacity(256)
            repeat {
                guard let v = integer(T.self) else { return nil }
                out.append(v)
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]")) ? out : nil
        }

        mutating func boolean() -> Bool? {
            skipSpace()
            func word(_ s: StaticString) -> Bool {
                let n = s.utf8CodeUnitCount
                guard end - i >= n, memcmp(s.utf8Start, base + i, n) == 0 else { return false }
                i += n
                return true
            }
            if word("true") { return true }
            if word("false") { return false }
            return nil
        }

        /// A string of printable ASCII (0x20...0x7E) without escapes.
        mutating func asciiString() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = i
            while i < end {
                let c = base[i]
                if c == UInt8(ascii: "\"") { break }
                guard c >= 0x20 && c < 0x7F && c != UInt8(ascii: "\\") else { return nil }
                i += 1
            }
            guard i < end else { return nil }
            let s = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
            i += 1
            return s
        }
    }
}
