import Foundation

/// Downloads a dataset's official archive into a cache folder and extracts it, with the system
/// `curl` (progress bar, resume of a `.part` file with HTTP Range, short connect timeout) and
/// `unzip`. Checks the size announced by the server always, and the known size / SHA-256 / MD5 of
/// the official archive where `DatasetKind.knownArchive` records them.
///
/// Without network it fails fast (the HEAD request times out after `connectTimeout` seconds) with
/// a message saying how to pass a local copy with `--source`.
public struct DatasetDownloader {
    /// `$GR_CACHE`, else `~/.cache/gr`.
    public var cacheDirectory: String
    /// Seconds to wait for a connection.
    public var connectTimeout: Int = 10
    /// Show curl's progress bar on stderr.
    public var showProgress = true
    /// Overrides the official URL (tests use an unreachable one).
    public var urlOverride: String?

    public init(cacheDirectory: String? = nil) {
        if let c = cacheDirectory {
            self.cacheDirectory = c
        } else if let env = ProcessInfo.processInfo.environment["GR_CACHE"], !env.isEmpty {
            self.cacheDirectory = env
        } else {
            self.cacheDirectory = FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/gr"
        }
    }

    /// Returns the local source for `kind` (the extracted folder, or the CSV for Amazon Books),
    /// downloading and extracting it when not cached yet.
    public func fetch(_ kind: DatasetKind) throws -> String {
        guard let official = kind.url else {
            throw DataError.invalidArgument("--dataset \(kind.rawValue) has no download URL: pass the file with --source PATH")
        }
        let url = urlOverride ?? official
        let fm = FileManager.default
        if let folder = kind.extractedFolder {
            let extracted = cacheDirectory + "/" + folder
            if fm.fileExists(atPath: extracted + "/" + kind.ratingsFile) { return extracted }
        }
        try StoreDirectory.createFolder(cacheDirectory)
        let archive = cacheDirectory + "/" + (URL(string: url)?.lastPathComponent ?? kind.rawValue)
        if !fm.fileExists(atPath: archive) {
            try download(url: url, kind: kind, to: archive)
        }
        guard kind.extractedFolder != nil else { return archive }
        return try extract(archive: archive, kind: kind, into: cacheDirectory)
    }

    /// Extracts a dataset's zip archive into `folder` with the system `unzip` and returns the
    /// folder holding its ratings file (`<folder>/ml-1m`, ... or `folder` itself).
    public func extract(archive: String, kind: DatasetKind, into folder: String) throws -> String {
        guard FileManager.default.fileExists(atPath: archive) else { throw DataError.missingFile(path: archive, what: "archive") }
        try StoreDirectory.createFolder(folder)
        do {
            try run("/usr/bin/env", ["unzip", "-q", "-o", archive, "-d", folder], what: "unzip", url: archive)
        } catch let DataError.downloadFailed(_, reason) {
            throw DataError.io(path: archive, reason: "cannot extract: \(reason)")
        }
        for candidate in [kind.extractedFolder.map { folder + "/" + $0 }, folder].compactMap({ $0 })
        where FileManager.default.fileExists(atPath: candidate + "/" + kind.ratingsFile) {
            return candidate
        }
        throw DataError.missingFile(path: archive, what: "\(kind.extractedFolder ?? "").../\(kind.ratingsFile) inside the archive")
    }

    private func hint(_ kind: DatasetKind) -> String {
        let what = kind.extractedFolder.map { "the extracted folder (\($0)/) or its \(kind.ratingsFile)" } ?? kind.ratingsFile
        return "no network? Download \(kind.url ?? "the file") on a machine with access, then run " +
            "`gr data prepare --dataset \(kind.rawValue) --source PATH` with PATH = \(what)"
    }

    private func download(url: String, kind: DatasetKind, to archive: String) throws {
        let part = archive + ".part"
        // 1. HEAD: fails fast without network, and gives the size to verify against.
        let head: String
        do {
            head = try run("/usr/bin/env", ["curl", "--silent", "--show-error", "--fail", "--location", "--head",
                                            "--connect-timeout", String(connectTimeout), "--max-time", String(connectTimeout * 3), url],
                           what: "curl --head", url: url)
        } catch let DataError.downloadFailed(_, reason) {
            throw DataError.downloadFailed(url: url, reason: "\(reason); \(hint(kind))")
        }
        var announced: Int?
        for line in head.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                announced = Int(parts[1].trimmingCharacters(in: .whitespaces))  // last one wins (after redirects)
            }
        }
        // 2. GET, resuming a previous .part file (HTTP Range via --continue-at -); skipped when
        //    the .part is already complete (a range past the end would be refused with 416).
        let partSize = (try? FileManager.default.attributesOfItem(atPath: part)[.size] as? Int) ?? 0
        let complete = partSize > 0 && partSize == (kind.knownArchive.bytes ?? announced)
        var args = ["curl", "--fail", "--location", "--connect-timeout", String(connectTimeout),
                    "--speed-limit", "1024", "--speed-time", "60", "--continue-at", "-", "--output", part, url]
        args.insert(contentsOf: showProgress ? ["--progress-bar"] : ["--silent", "--show-error"], at: 1)
        do {
            if !complete { _ = try run("/usr/bin/env", args, what: "curl", url: url, passStderr: showProgress) }
        } catch let DataError.downloadFailed(_, reason) {
            throw DataError.downloadFailed(url: url, reason: "\(reason) (partial download kept in \(part); re-run to resume); \(hint(kind))")
        }
        // 3. Verify.
        let size = (try? FileManager.default.attributesOfItem(atPath: part)[.size] as? Int) ?? -1
        let known = kind.knownArchive
        if let expected = known.bytes ?? announced, size != expected {
            throw DataError.downloadFailed(url: url, reason: "\(part) has \(size) bytes, expected \(expected); delete it and retry")
        }
        if let sha = known.sha256 {
            let got = try run("/usr/bin/env", ["sha256sum", part], what: "sha256sum", url: url).prefix(64)
            guard got == sha else {
                throw DataError.downloadFailed(url: url, reason: "\(part): SHA-256 \(got) differs from the official \(sha); delete it and retry")
            }
        } else if let md5 = known.md5 {
            let got = try run("/usr/bin/env", ["md5sum", part], what: "md5sum", url: url).prefix(32)
            guard got == md5 else {
                throw DataError.downloadFailed(url: url, reason: "\(part): MD5 \(got) differs from the official \(md5); delete it and retry")
            }
        }
        guard rename(part, archive) == 0 else { throw DataError.io(path: archive, reason: "cannot rename \(part) into place") }
    }

    /// Runs a tool, returns its stdout; a non-zero exit is `downloadFailed` with its stderr.
    @discardableResult
    private func run(_ tool: String, _ args: [String], what: String, url: String, passStderr: Bool = false) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        if !passStderr { p.standardError = err }
        do { try p.run() } catch {
            throw DataError.downloadFailed(url: url, reason: "cannot start \(args.first ?? tool): \(error)")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = passStderr ? Data() : err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let msg = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw DataError.downloadFailed(url: url, reason: "\(what) exited with \(p.terminationStatus)\(msg.isEmpty ? "" : ": \(msg)")")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
#if canImport(Glibc)
import Glibc
#endif
