#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes a store back out as `user,item,timestamp,rating` CSV (header line first), users in store
/// order, events chronologically: the input of `gr data prepare --dataset csv`, for benchmarks and
/// for moving data to other tools. Written to a temporary name, then renamed.
public enum CSVExporter {
    public static func export(_ store: SequenceStore, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard let f = fopen(tmp, "wb") else { throw DataError.io(path: tmp, reason: "cannot create") }
        var ok = true
        var buf = [UInt8]()
        buf.reserveCapacity(1 << 20)
        buf.append(contentsOf: Array("user,item,timestamp,rating\n".utf8))
        func flush() {
            if buf.isEmpty { return }
            let n = buf.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            if n != buf.count { ok = false }
            buf.removeAll(keepingCapacity: true)
        }
        func int(_ v: Int64) {
            if v < 0 { buf.append(0x2D) }
            var x = v.magnitude
            var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var n = 0
            withUnsafeMutableBytes(of: &tmp) { t in
                repeat { t[n] = UInt8(x % 10) + 0x30; x /= 10; n += 1 } while x > 0
                for k in stride(from: n - 1, through: 0, by: -1) { buf.append(t[k]) }
            }
        }
        for u in 0..<store.userCount {
            let user = store.userId(u)
            let items = store.items(u), ts = store.timestamps(u), rs = store.ratings(u)
            for k in 0..<items.count {
                int(user); buf.append(0x2C)
                int(Int64(items[k])); buf.append(0x2C)
                int(ts[k]); buf.append(0x2C)
                let r = rs[k]
                if r == r.rounded(), abs(r) < 1e9 { int(Int64(r)) } else { buf.append(contentsOf: Array("\(r)".utf8)) }
                buf.append(0x0A)
            }
            if buf.count > (1 << 20) - 4096 { flush() }
        }
        flush()
        if fclose(f) != 0 { ok = false }
        guard ok else { unlink(tmp); throw DataError.io(path: tmp, reason: "write failed (disk full?)") }
        guard rename(tmp, path) == 0 else { unlink(tmp); throw DataError.io(path: path, reason: "cannot rename into place") }
    }
}
