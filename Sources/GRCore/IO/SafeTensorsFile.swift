import Foundation

/// Errors reading a safetensors file; each names the file and what is wrong.
public struct SafeTensorsError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(_ path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

/// A safetensors file (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
/// length, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`, then the data.
/// PyTorch reads the files we write and we read PyTorch's.
public struct SafeTensorsFile {
    public struct Entry: Sendable {
        public let name: String
        /// safetensors dtype string: F64, F32, BF16, I64, I32, U8, BOOL ...
        public let dtype: String
        public let shape: [Int]
        public let byteRange: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data  // whole file
    private let dataStart: Int

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafeTensorsError(path, "cannot read file")
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        self.path = path
        self.data = data
        guard data.count >= 8 else { throw SafeTensorsError(path, "truncated: \(data.count) bytes, no header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard n <= UInt64(data.count - 8) else {
            throw SafeTensorsError(path, "truncated: header says \(n) bytes, file has \(data.count - 8)")
        }
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + Int(n))
        guard let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw SafeTensorsError(path, "header is not a JSON object")
        }
        dataStart = 8 + Int(n)
        let available = data.count - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let obj = value as? [String: Any], let dtype = obj["dtype"] as? String,
                  let shape = obj["shape"] as? [Int], let offs = obj["data_offsets"] as? [Int], offs.count == 2
            else { throw SafeTensorsError(path, "tensor '\(name)': malformed header entry") }
            guard offs[0] >= 0, offs[0] <= offs[1], offs[1] <= available else {
                throw SafeTensorsError(path, "tensor '\(name)': data \(offs) outside the \(available) data bytes (truncated file?)")
            }
            let e = Entry(name: name, dtype: dtype, shape: shape, byteRange: offs[0]..<offs[1])
            guard let size = Self.elementSize(dtype), e.count * size == offs[1] - offs[0] else {
                throw SafeTensorsError(path, "tensor '\(name)': \(dtype) \(shape) does not fit \(offs[1] - offs[0]) bytes")
            }
            entries[name] = e
        }
        self.entries = entries
        self.metadata = metadata
    }

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": return 8
        case "F32", "I32", "U32": return 4
        case "F16", "BF16", "I16", "U16": return 2
        case "U8", "I8", "BOOL": return 1
        default: return nil
        }
    }

    public var names: [String] { entries.keys.sorted() }

    public func entry(_ name: String) throws -> Entry {
        guard let e = entries[name] else { throw SafeTensorsError(path, "no tensor named '\(name)'") }
        return e
    }

    public func shape(_ name: String) throws -> [Int] { try entry(name).shape }

    /// The raw little-endian bytes of a tensor.
    public func bytes(_ name: String) throws -> Data {
        let e = try entry(name)
        let s = data.startIndex + dataStart
        return data.subdata(in: s + e.byteRange.lowerBound ..< s + e.byteRange.upperBound)
    }

    /// A float tensor (F64, F32 or BF16) as Doubles.
    public func doubles(_ name: String) throws -> [Double] {
        let e = try entry(name)
        let b = try bytes(name)
        switch e.dtype {
        case "F64":
            return b.withUnsafeBytes { r in (0..<e.count).map { r.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) } }
        case "F32":
            return b.withUnsafeBytes { r in (0..<e.count).map { Double(r.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self)) } }
        case "BF16":
            return b.withUnsafeBytes { r in
                (0..<e.count).map { Double(Float(bitPattern: UInt32(r.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)) << 16)) }
            }
        default:
            throw SafeTensorsError(path, "tensor '\(name)' is \(e.dtype), not a float type")
        }
    }

    /// A float tensor as Floats.
    public func floats(_ name: String) throws -> [Float] { try doubles(name).map { Float($0) } }

    /// An integer tensor (I64, I32, U8, BOOL) as Int64s.
    public func int64s(_ name: String) throws -> [Int64] {
        let e = try entry(name)
        let b = try bytes(name)
        switch e.dtype {
        case "I64": return b.withUnsafeBytes { r in (0..<e.count).map { r.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) } }
        case "I32": return b.withUnsafeBytes { r in (0..<e.count).map { Int64(r.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) } }
        case "U8", "BOOL": return b.map { Int64($0) }
        default: throw SafeTensorsError(path, "tensor '\(name)' is \(e.dtype), not an integer type")
        }
    }
}
