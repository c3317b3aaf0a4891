import Foundation

/// A block of memory owned by a backend. For the CPU `address` is a host pointer; for a GPU
/// backend it is the device address (the bit pattern of a `CUdeviceptr`).
public final class Storage: @unchecked Sendable {
    public let address: UnsafeMutableRawPointer
    public let byteCount: Int
    public let device: Device
    private let release: ((UnsafeMutableRawPointer) -> Void)?

    public init(address: UnsafeMutableRawPointer, byteCount: Int, device: Device,
                release: ((UnsafeMutableRawPointer) -> Void)?) {
        self.address = address
        self.byteCount = byteCount
        self.device = device
        self.release = release
    }

    /// Zero-filled host memory aligned to 64 bytes (one cache line, one AVX-512 register).
    public static func host(byteCount: Int) -> Storage {
        let bytes = max(byteCount, 64)
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return Storage(address: p, byteCount: byteCount, device: .cpu) { $0.deallocate() }
    }

    deinit { release?(address) }
}
