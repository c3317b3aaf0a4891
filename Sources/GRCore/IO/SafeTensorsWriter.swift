import Foundation

/// Writes a safetensors file (https://huggingface.co/docs/safetensors) that `SafeTensorsFile`,
/// PyTorch (`safetensors.torch.load_file`) and the Rust crate read back.
///
/// Layout: u64 little-endian header size n, n bytes of JSON header
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}`
/// padded with spaces to a multiple of 8 bytes, then the tensors' bytes back to back in the
/// order they were added (offsets relative to the end of the header).
///
/// `write(to:)` is atomic: it writes `<path>.tmp-<pid>` in the same folder, then renames it over
/// `path`, so a reader never sees a half-written file and a crash leaves the old file intact.
public struct SafeTensorsWriter {
    private struct Pending {
        let name: String
        let dtype: String
        let shape: [Int]
        let bytes: Data
    }

    private var pending: [Pending] = []
    private var names: Set<String> = []
    /// String-to-string metadata stored under `__metadata__`.
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a float32 tensor. Names must be unique and must not be `__metadata__`.
    public mutating func add(_ name: String, floats: UnsafeBufferPointer<Float>, shape: [Int]) {
        precondition(floats.count == shape.reduce(1, *), "\(name): \(floats.count) floats for shape \(shape)")
        append(Pending(name: name, dtype: "F32", shape: shape, bytes: Data(buffer: floats)))
    }

    public mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        floats.withUnsafeBufferPointer { add(name, floats: $0, shape: shape) }
    }

    /// Adds a host f32 tensor's values under its own shape.
    public mutating func add(_ name: String, tensor: Tensor) {
        add(name, floats: UnsafeBufferPointer(start: tensor.floats, count: tensor.count), shape: tensor.shape)
    }

    public mutating func add(_ name: String, int64s: [Int64], shape: [Int]) {
        precondition(int64s.count == shape.reduce(1, *), "\(name): \(int64s.count) values for shape \(shape)")
        append(Pending(name: name, dtype: "I64", shape: shape, bytes: int64s.withUnsafeBufferPointer { Data(buffer: $0) }))
    }

    public mutating func add(_ name: String, int32s: [Int32], shape: [Int]) {
        precondition(int32s.count == shape.reduce(1, *), "\(name): \(int32s.count) values for shape \(shape)")
        append(Pending(name: name, dtype: "I32", shape: shape, bytes: int32s.withUnsafeBufferPointer { Data(buffer: $0) }))
    }

    private mutating func append(_ p: Pending) {
        precondition(p.name != "__metadata__" && !p.name.isEmpty, "invalid tensor name '\(p.name)'")
        precondition(!names.contains(p.name), "duplicate tensor name '\(p.name)'")
        names.insert(p.name)
        pending.append(p)
    }

    /// The header: u64 length + JSON padded with spaces so the data starts 8-byte aligned.
    func headerBytes() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for p in pending {
            header[p.name] = ["dtype": p.dtype, "shape": p.shape, "data_offsets": [offset, offset + p.bytes.count]] as [String: Any]
            offset += p.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        return out
    }

    /// The serialised file (header + data).
    public func serialized() throws -> Data {
        var out = try headerBytes()
        for p in pending { out.append(p.bytes) }
        return out
    }

    /// Writes the file atomically (temporary file in the same folder, then rename), streaming the
    /// tensors one by one so that no second copy of the whole file is held in memory.
    public func write(to path: String) throws {
        let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        let header = try headerBytes()
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let h = FileHandle(forWritingAtPath: tmp) else {
            throw SafeTensorsError(path, "cannot create temporary file \(tmp)")
        }
        do {
            try h.write(contentsOf: header)
            for p in pending { try h.write(contentsOf: p.bytes) }
            try h.synchronize()
            try h.close()
        } catch {
            try? h.close()
            unlink(tmp)
            throw SafeTensorsError(path, "cannot write temporary file \(tmp): \(error)")
        }
        try Self.rename(tmp, to: path)
    }

    /// Writes `data` to `<path>.tmp-<pid>` and renames it over `path`.
    public static func atomicWrite(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try data.write(to: URL(fileURLWithPath: tmp))
        } catch {
            throw SafeTensorsError(path, "cannot write temporary file \(tmp): \(error.localizedDescription)")
        }
        try rename(tmp, to: path)
    }

    static func rename(_ tmp: String, to path: String) throws {
        if Foundation.rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw SafeTensorsError(path, "cannot rename \(tmp) into place: \(reason)")
        }
    }
}
