#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Publishing a store folder atomically: everything is written under a temporary sibling name and
/// renamed into place at the end, so an interrupted or failed `prepare` leaves no partial output.
public enum StoreDirectory {
    /// A fresh temporary folder next to `final` (same file system, so the rename is atomic).
    public static func makeTemporary(for final: String) throws -> String {
        let url = URL(fileURLWithPath: final).standardizedFileURL
        let parent = url.deletingLastPathComponent().path
        try createFolder(parent)
        let tmp = parent + "/." + url.lastPathComponent + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try createFolder(tmp)
        return tmp
    }

    static func createFolder(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw DataError.io(path: path, reason: "cannot create folder: \(error.localizedDescription)")
        }
    }

    /// Moves `temporary` to `final`. An existing `final` is replaced only when it is a store
    /// folder (holds `sequences.grstore` or `summary.json`) or empty; anything else is refused.
    public static func commit(temporary: String, final: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: final, isDirectory: &isDir) {
            let contents = (try? fm.contentsOfDirectory(atPath: final)) ?? []
            let isStore = isDir.boolValue && (contents.isEmpty || contents.contains(StoreFormat.fileName)
                || contents.contains(StoreFormat.summaryName))
            guard isStore else {
                try? fm.removeItem(atPath: temporary)
                throw DataError.io(path: final, reason: "exists and is not a sequence store folder; refusing to replace it")
            }
            let old = temporary + ".old"
            guard rename(final, old) == 0 else { throw DataError.io(path: final, reason: "cannot move the old store aside") }
            guard rename(temporary, final) == 0 else {
                _ = rename(old, final)
                throw DataError.io(path: final, reason: "cannot rename \(temporary) into place")
            }
            try? fm.removeItem(atPath: old)
        } else {
            guard rename(temporary, final) == 0 else {
                throw DataError.io(path: final, reason: "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Writes `data` to `path` atomically (temporary name in the same folder, then rename).
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        do {
            try data.write(to: URL(fileURLWithPath: tmp))
        } catch {
            throw DataError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw DataError.io(path: path, reason: "cannot rename into place")
        }
    }
}
