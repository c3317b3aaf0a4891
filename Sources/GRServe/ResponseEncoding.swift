import Foundation
import Hummingbird

/// Direct JSON writers for the two hot answers (`RecommendAnswer`, `ScoreAnswer`): the bytes go
/// straight into one `ByteBuffer` sized up front, which becomes the response body without a copy
/// (no `Encodable` boxing, no intermediate `Data`). Same JSON as `JSONEncoder` up to key order and
/// number spelling: scores are written as Swift's shortest round-trip `Float` description, which
/// JSON parses back to the same `Float` (callers check the scores are finite first); strings are
/// escaped per RFC 8259 (`"`, `\` and control characters). `ResponseEncodingTests` decodes the
/// output with `JSONDecoder` and compares.
enum ResponseEncoding {
    static func recommend(_ a: RecommendAnswer) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(64 + a.items.count * 24 + (a.titles?.reduce(0) { $0 + $1.utf8.count + 4 } ?? 0)
                          + a.model.utf8.count)
        b.writeStaticString("{\"items\":")
        writeIntegers(a.items, to: &b)
        b.writeStaticString(",\"scores\":")
        writeFloats(a.scores, to: &b)
        if let titles = a.titles {
            b.writeStaticString(",\"titles\":[")
            for (i, t) in titles.enumerated() {
                if i > 0 { b.writeStaticString(",") }
                writeString(t, to: &b)
            }
            b.writeStaticString("]")
        }
        b.writeStaticString(",\"model\":")
        writeString(a.model, to: &b)
        b.writeStaticString("}")
        return b
    }

    static func score(_ a: ScoreAnswer) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(32 + a.scores.count * 16 + a.model.utf8.count)
        b.writeStaticString("{\"scores\":")
        writeFloats(a.scores, to: &b)
        b.writeStaticString(",\"model\":")
        writeString(a.model, to: &b)
        b.writeStaticString("}")
        return b
    }

    /// A 200 response with `body` as JSON.
    static func response(_ body: ByteBuffer) -> Response {
        Response(status: .ok,
                 headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes)],
                 body: .init(byteBuffer: body))
    }

    static func writeIntegers(_ xs: [Int32], to b: inout ByteBuffer) {
        b.writeStaticString("[")
        for (i, x) in xs.enumerated() {
            if i > 0 { b.writeStaticString(",") }
            writeInteger(Int64(x), to: &b)
        }
        b.writeStaticString("]")
    }

    static func writeInteger(_ x: Int64, to b: inout ByteBuffer) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var m = x.magnitude, n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[19 - n] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
                n += 1
            } while m > 0
            if x < 0 { b.writeStaticString("-") }
            b.writeBytes(UnsafeRawBufferPointer(rebasing: d[(20 - n)...]))
        }
    }

    static func writeFloats(_ xs: [Float], to b: inout ByteBuffer) {
        b.writeStaticString("[")
        for (i, x) in xs.enumerated() {
            if i > 0 { b.writeStaticString(",") }
            b.writeString(x.description)
        }
        b.writeStaticString("]")
    }

    static func writeString(_ s: String, to b: inout ByteBuffer) {
        b.writeStaticString("\"")
        var plain = true
        for c in s.utf8 where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { plain = false; break }
        if plain {
            b.writeString(s)
        } else {
            for c in s.utf8 {
                switch c {
                case UInt8(ascii: "\""): b.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): b.writeStaticString("\\\\")
                case 0x0A: b.writeStaticString("\\n")
                case 0x0D: b.writeStaticString("\\r")
                case 0x09: b.writeStaticString("\\t")
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    b.writeStaticString("\\u00")
                    b.writeBytes([hex[Int(c >> 4)], hex[Int(c & 15)]])
                default: b.writeInteger(c)
                }
            }
        }
        b.writeStaticString("\"")
    }
}
