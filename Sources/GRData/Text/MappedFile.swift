#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A read-only memory mapping of a whole file. Pages are loaded on demand by the kernel, so a
/// multi-gigabyte ratings file or sequence store costs no heap memory. Empty files map to an
/// empty buffer.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let byteCount: Int
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw DataError.missingFile(path: path, what: "file") }
            throw DataError.io(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DataError.io(path: path, reason: "cannot stat") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw DataError.io(path: path, reason: "is a folder, expected a file") }
        byteCount = Int(st.st_size)
        if byteCount == 0 {
            base = nil
            return
        }
        let p = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw DataError.io(path: path, reason: "cannot memory-map \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit { if let base { munmap(base, byteCount) } }

    /// The file's bytes; valid while `self` is alive.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }

    /// Tells the kernel the file will be read front to back (bigger read-ahead).
    public func adviseSequential() {
        if let base { _ = madvise(base, byteCount, Int32(MADV_SEQUENTIAL)) }
    }
}
