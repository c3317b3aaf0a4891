/// Assigns dense codes 0, 1, 2, ... to distinct byte strings (user and item ids of string-keyed
/// datasets such as Amazon Books' ASINs), in order of first appearance. Keys are byte ranges into a
/// memory-mapped file that outlives the interner, so 20M lookups allocate nothing per row.
/// Open addressing with linear probing on a 64-bit FNV-1a hash.
struct ByteInterner {
    private let base: UnsafeRawPointer?
    /// Per code: start offset and length of its first occurrence in the file.
    private(set) var starts: [Int] = []
    private(set) var lengths: [Int32] = []
    private var slots: [Int32]  // code + 1, 0 = empty
    private var mask: Int

    init(file: MappedFile, capacityHint: Int = 1 << 16) {
        base = file.bytes.baseAddress
        var n = 1 << 10
        while n < capacityHint * 2 { n <<= 1 }
        slots = [Int32](repeating: 0, count: n)
        mask = n - 1
    }

    var count: Int { starts.count }

    @inline(__always)
    private static func hash(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<n { h = (h ^ UInt64(p.load(fromByteOffset: i, as: UInt8.self))) &* 0x0000_0100_0000_01B3 }
        return h ^ (h >> 29)
    }

    /// The code of the bytes `range` of the file, adding it when new.
    @inline(__always)
    mutating func code(_ range: Range<Int>) -> Int32 {
        let p = base! + range.lowerBound, n = range.count
        var s = Int(truncatingIfNeeded: Self.hash(p, n)) & mask
        while true {
            let c = slots[s]
            if c == 0 { break }
            let code = Int(c - 1)
            if Int(lengths[code]) == n && memcmp(base! + starts[code], p, n) == 0 { return Int32(code) }
            s = (s + 1) & mask
        }
        let code = starts.count
        starts.append(range.lowerBound)
        lengths.append(Int32(n))
        slots[s] = Int32(code + 1)
        if starts.count * 2 > slots.count { grow() }
        return Int32(code)
    }

    private mutating func grow() {
        let n = slots.count * 2
        slots = [Int32](repeating: 0, count: n)
        mask = n - 1
        for code in 0..<starts.count {
            var s = Int(truncatingIfNeeded: Self.hash(base! + starts[code], Int(lengths[code]))) & mask
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = Int32(code + 1)
        }
    }

    /// Compares the keys of two codes bytewise (= Unicode code-point order for UTF-8, the order
    /// of Python string comparison that pandas categoricals sort by).
    func less(_ a: Int, _ b: Int) -> Bool {
        let la = Int(lengths[a]), lb = Int(lengths[b])
        let c = memcmp(base! + starts[a], base! + starts[b], min(la, lb))
        return c != 0 ? c < 0 : la < lb
    }

    /// The key of a code as a String (for messages and titles).
    func string(_ code: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(start: base! + starts[code], count: Int(lengths[code])), as: UTF8.self)
    }

    /// rank[code] = position of the code's key in lexicographic (bytewise) order, restricted to
    /// codes with `keep[code]` (others get -1). Ranks are 0-based and dense.
    func lexicographicRanks(keep: [Bool]? = nil) -> [Int32] {
        var order = (0..<count).filter { keep?[$0] ?? true }
        order.sort { less($0, $1) }
        var rank = [Int32](repeating: -1, count: count)
        for (r, code) in order.enumerated() { rank[code] = Int32(r) }
        return rank
    }
}
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
