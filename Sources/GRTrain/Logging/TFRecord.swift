/// TFRecord framing, the container of TensorBoard event files:
///
/// ```
/// uint64 length (little-endian)
/// uint32 masked_crc32c(length bytes)
/// byte   data[length]
/// uint32 masked_crc32c(data)
/// ```
public enum TFRecord {
    /// Header (8 + 4) plus footer (4) bytes around each record.
    public static let overhead = 16

    /// Appends one framed record holding `data` to `out`.
    public static func frame(_ data: [UInt8], into out: inout [UInt8]) {
        var length = [UInt8]()
        for i in 0..<8 { length.append(UInt8((UInt64(data.count) >> (8 * UInt64(i))) & 0xFF)) }
        out += length
        appendU32(CRC32C.masked(length), &out)
        out += data
        appendU32(CRC32C.masked(data), &out)
    }

    /// Splits a whole file into its records, checking both CRCs of each.
    public static func records(_ bytes: [UInt8], path: String) throws -> [(offset: Int, data: ArraySlice<UInt8>)] {
        var out = [(offset: Int, data: ArraySlice<UInt8>)]()
        var p = 0
        while p < bytes.count {
            guard bytes.count - p >= overhead else { throw LoggingError.corrupt(path: path, offset: p, message: "truncated record header") }
            let lengthBytes = bytes[p..<(p + 8)]
            var length: UInt64 = 0
            for (i, b) in lengthBytes.enumerated() { length |= UInt64(b) << (8 * UInt64(i)) }
            guard readU32(bytes, p + 8) == CRC32C.masked(lengthBytes) else {
                throw LoggingError.corrupt(path: path, offset: p, message: "length CRC mismatch")
            }
            guard length <= UInt64(bytes.count - p - overhead) else {
                throw LoggingError.corrupt(path: path, offset: p, message: "record of \(length) bytes runs past the end")
            }
            let start = p + 12, end = start + Int(length)
            let data = bytes[start..<end]
            guard readU32(bytes, end) == CRC32C.masked(data) else {
                throw LoggingError.corrupt(path: path, offset: p, message: "data CRC mismatch")
            }
            out.append((offset: start, data: data))
            p = end + 4
        }
        return out
    }

    static func appendU32(_ v: UInt32, _ out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) }
    }

    static func readU32(_ b: [UInt8], _ p: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[p + $1]) << (8 * UInt32($1)) }
    }
}
