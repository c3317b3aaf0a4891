/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by TFRecord framing.
public enum CRC32C {
    /// The reflected Castagnoli polynomial.
    static let polynomial: UInt32 = 0x82F6_3B78
    /// TFRecord's mask constant (tensorflow/core/lib/hash/crc32c.h `kMaskDelta`).
    static let maskDelta: UInt32 = 0xA282_EAD8

    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
        return c
    }

    /// CRC-32C of `bytes` (initial value and final xor 0xFFFFFFFF). crc("123456789") = 0xE3069283.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// The masked CRC stored in TFRecord files: rotate right by 15, then add `maskDelta`.
    public static func masked<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ maskDelta
    }
}
