/// The part of TensorFlow's `Event` protobuf that scalar logging uses, with a hand-written
/// encoder and decoder (no protobuf dependency).
///
/// ```
/// message Event   { double wall_time = 1; int64 step = 2;
///                   oneof what { string file_version = 3; Summary summary = 5; ... } }
/// message Summary { repeated Value value = 1; }
/// message Value   { string tag = 1; oneof value { float simple_value = 2; ... } }
/// ```
/// Unknown fields are skipped when decoding.
public struct TensorBoardEvent: Equatable, Sendable {
    /// One `Summary.Value` with a `simple_value`.
    public struct Scalar: Equatable, Sendable {
        public var tag: String
        public var value: Float
        public init(tag: String, value: Float) { self.tag = tag; self.value = value }
    }

    /// The `file_version` every event file starts with.
    public static let fileVersion = "brain.Event:2"

    /// Unix seconds.
    public var wallTime: Double
    public var step: Int64
    public var fileVersion: String?
    public var scalars: [Scalar]

    public init(wallTime: Double, step: Int64, fileVersion: String? = nil, scalars: [Scalar] = []) {
        self.wallTime = wallTime; self.step = step; self.fileVersion = fileVersion; self.scalars = scalars
    }

    // Wire types (protobuf encoding spec).
    static let wireVarint: UInt64 = 0, wireFixed64: UInt64 = 1, wireBytes: UInt64 = 2, wireFixed32: UInt64 = 5

    /// The protobuf bytes of this event.
    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        Self.key(1, Self.wireFixed64, &out)
        Self.fixed64(wallTime.bitPattern, &out)
        Self.key(2, Self.wireVarint, &out)
        Self.varint(UInt64(bitPattern: step), &out)
        if let v = fileVersion {
            Self.key(3, Self.wireBytes, &out)
            Self.bytes(Array(v.utf8), &out)
        }
        if !scalars.isEmpty {
            var summary = [UInt8]()
            for s in scalars {
                var value = [UInt8]()
                Self.key(1, Self.wireBytes, &value)
                Self.bytes(Array(s.tag.utf8), &value)
                Self.key(2, Self.wireFixed32, &value)
                Self.fixed32(s.value.bitPattern, &value)
                Self.key(1, Self.wireBytes, &summary)
                Self.bytes(value, &summary)
            }
            Self.key(5, Self.wireBytes, &out)
            Self.bytes(summary, &out)
        }
        return out
    }

    /// Decodes an `Event` message; `offset` is only used in error messages.
    public static func decode(_ data: ArraySlice<UInt8>, path: String = "<memory>", offset: Int = 0) throws -> TensorBoardEvent {
        var event = TensorBoardEvent(wallTime: 0, step: 0)
        var r = Reader(data: data, path: path, base: offset)
        while !r.atEnd {
            let (field, wire) = try r.key()
            switch (field, wire) {
            case (1, wireFixed64): event.wallTime = Double(bitPattern: try r.fixed64())
            case (2, wireVarint): event.step = Int64(bitPattern: try r.varint())
            case (3, wireBytes): event.fileVersion = try r.string()
            case (5, wireBytes):
                var s = Reader(data: try r.bytes(), path: path, base: offset)
                while !s.atEnd {
                    let (f, w) = try s.key()
                    guard f == 1, w == wireBytes else { try s.skip(w); continue }
                    var v = Reader(data: try s.bytes(), path: path, base: offset)
                    var tag = "", value: Float?
                    while !v.atEnd {
                        let (vf, vw) = try v.key()
                        switch (vf, vw) {
                        case (1, wireBytes): tag = try v.string()
                        case (2, wireFixed32): value = Float(bitPattern: try v.fixed32())
                        default: try v.skip(vw)
                        }
                    }
                    if let value { event.scalars.append(Scalar(tag: tag, value: value)) }
                }
            default: try r.skip(wire)
            }
        }
        return event
    }

    static func key(_ field: UInt64, _ wire: UInt64, _ out: inout [UInt8]) { varint(field << 3 | wire, &out) }
    static func varint(_ v: UInt64, _ out: inout [UInt8]) {
        var v = v
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    static func fixed64(_ v: UInt64, _ out: inout [UInt8]) { for i in 0..<8 { out.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
    static func fixed32(_ v: UInt32, _ out: inout [UInt8]) { for i in 0..<4 { out.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    static func bytes(_ b: [UInt8], _ out: inout [UInt8]) { varint(UInt64(b.count), &out); out += b }

    /// A bounds-checked protobuf reader.
    struct Reader {
        let data: ArraySlice<UInt8>
        let path: String
        let base: Int
        var pos: Int
        init(data: ArraySlice<UInt8>, path: String, base: Int) {
            self.data = data; self.path = path; self.base = base; self.pos = data.startIndex
        }
        var atEnd: Bool { pos >= data.endIndex }
        func fail(_ m: String) -> LoggingError { .corrupt(path: path, offset: base + pos - data.startIndex, message: m) }
        mutating func byte() throws -> UInt8 {
            guard pos < data.endIndex else { throw fail("truncated protobuf") }
            defer { pos += 1 }
            return data[pos]
        }
        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw fail("varint longer than 10 bytes") }
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
        }
        mutating func key() throws -> (UInt64, UInt64) { let k = try varint(); return (k >> 3, k & 7) }
        mutating func fixed64() throws -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(try byte()) << (8 * UInt64(i)) }
            return v
        }
        mutating func fixed32() throws -> UInt32 {
            var v: UInt32 = 0
            for i in 0..<4 { v |= UInt32(try byte()) << (8 * UInt32(i)) }
            return v
        }
        mutating func bytes() throws -> ArraySlice<UInt8> {
            let n = try varint()
            guard n <= UInt64(data.endIndex - pos) else { throw fail("length \(n) beyond the message") }
            defer { pos += Int(n) }
            return data[pos..<(pos + Int(n))]
        }
        mutating func string() throws -> String {
            let b = try bytes()
            let s = String(decoding: b, as: UTF8.self)
            guard s.utf8.elementsEqual(b) else { throw fail("string is not UTF-8") }
            return s
        }
        mutating func skip(_ wire: UInt64) throws {
            switch wire {
            case TensorBoardEvent.wireVarint: _ = try varint()
            case TensorBoardEvent.wireFixed64: _ = try fixed64()
            case TensorBoardEvent.wireBytes: _ = try bytes()
            case TensorBoardEvent.wireFixed32: _ = try fixed32()
            default: throw fail("unsupported wire type \(wire)")
            }
        }
    }
}
