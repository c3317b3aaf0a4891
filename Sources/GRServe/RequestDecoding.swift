import Foundation

/// Decoding of request bodies into the API's wire structs, with every failure turned into a 400
/// that names the field as a path ("history[3]", "timestamps", "body").
enum RequestDecoding {
    /// Decodes `T` from `data`; a `DecodingError` becomes an `APIError` naming the field.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let e as APIError {
            throw e
        } catch let e as DecodingError {
            throw apiError(e)
        } catch {
            throw APIError.badRequest("body", "not valid JSON: \(error)")
        }
    }

    /// "history[3]" from a coding path: keys joined with ".", array indices as "[i]".
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var s = ""
        for key in path {
            if let i = key.intValue {
                s += "[\(i)]"
            } else {
                s += s.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return s.isEmpty ? "body" : s
    }

    static func apiError(_ e: DecodingError) -> APIError {
        switch e {
        case .typeMismatch(let type, let c):
            return .badRequest(fieldPath(c.codingPath), "expected \(wireName(type)): \(c.debugDescription)")
        case .valueNotFound(let type, let c):
            return .badRequest(fieldPath(c.codingPath), "expected \(wireName(type)), found null")
        case .keyNotFound(let key, let c):
            return .badRequest(fieldPath(c.codingPath + [key]), "required field is missing")
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty {
                let detail = (c.underlyingError.map { "\($0)" }) ?? c.debugDescription
                return .badRequest("body", "not valid JSON: \(detail)")
            }
            return .badRequest(fieldPath(c.codingPath), c.debugDescription)
        @unknown default:
            return .badRequest("body", "\(e)")
        }
    }

    /// The JSON-side name of a Swift type in error messages.
    static func wireName(_ type: Any.Type) -> String {
        switch type {
        case is Int32.Type, is Int64.Type, is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is [Int32].Type, is [Int64].Type: return "an array of integers"
        default: return "\(type)".hasPrefix("Dictionary") ? "an object" : "\(type)"
        }
    }
}

/// A coding key for any string: lets the wire structs list the keys a body actually has.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension KeyedDecodingContainer where K == AnyKey {
    /// Rejects keys outside `known` (a misspelt "exclude-seen" would otherwise be silently ignored).
    func rejectUnknownKeys(_ known: Set<String>) throws {
        for key in allKeys where !known.contains(key.stringValue) {
            throw APIError.badRequest(RequestDecoding.fieldPath(codingPath + [key]),
                                      "unknown field (expected one of: \(known.sorted().joined(separator: ", ")))")
        }
    }

    func required<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
        try decode(T.self, forKey: AnyKey(key))
    }

    func optional<T: Decodable>(_ type: T.Type, _ key: String) throws -> T? {
        try decodeIfPresent(T.self, forKey: AnyKey(key))
    }

    /// An integer. Foundation's decoder reports a number that does not fit (2.5, 1e300) as invalid
    /// JSON with no path, so a failed fast decode is redone through `WireInteger`, which names the field.
    func integer<T: FixedWidthInteger & Decodable>(_ type: T.Type, _ key: String) throws -> T {
        let k = AnyKey(key)
        if let v = try? decode(T.self, forKey: k) { return v }
        let wide = try decode(WireInteger.self, forKey: k)
        guard let v = T(exactly: wide.value) else {
            throw APIError.badRequest(RequestDecoding.fieldPath(codingPath + [k]), "\(wide.value) is out of range \(T.min)...\(T.max)")
        }
        return v
    }

    /// An array of integers (nil when the key is absent or null and `required` is false); the
    /// fast native decode first, element by element on failure so that the error names the element.
    func integers<T: FixedWidthInteger & Decodable>(_ type: T.Type, _ key: String, required: Bool) throws -> [T]? {
        let k = AnyKey(key)
        if !required, try !contains(k) || decodeNil(forKey: k) { return nil }
        if let fast = try? decode([T].self, forKey: k) { return fast }
        let wide = try decode([WireInteger].self, forKey: k)
        return try wide.enumerated().map { i, w in
            guard let v = T(exactly: w.value) else {
                throw APIError.badRequest(RequestDecoding.fieldPath(codingPath + [k]) + "[\(i)]",
                                          "\(w.value) is out of range \(T.min)...\(T.max)")
            }
            return v
        }
    }
}

/// One JSON integer decoded so that every failure names its field: null, a string, a fraction or a
/// number beyond Int64 each become a 400 with the element's path ("history[3]").
struct WireInteger: Decodable {
    let value: Int64

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let field = RequestDecoding.fieldPath(decoder.codingPath)
        if c.decodeNil() { throw APIError.badRequest(field, "expected an integer, found null") }
        do {
            value = try c.decode(Int64.self)
        } catch let e as DecodingError {
            throw RequestDecoding.apiError(e)
        } catch {
            let shown = (try? c.decode(Double.self)).map { "\($0)" } ?? "a number beyond Double"
            throw APIError.badRequest(field, "expected an integer in \(Int64.min)...\(Int64.max), got \(shown)")
        }
    }
}
