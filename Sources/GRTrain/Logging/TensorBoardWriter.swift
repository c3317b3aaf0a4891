import Foundation

/// Writes scalars to a TensorBoard event file `events.out.tfevents.<unix seconds>.<host>` in
/// `directory` (a `.1`, `.2`, ... suffix when that name exists): TFRecord-framed `Event`
/// protobufs, the first one carrying `file_version: "brain.Event:2"`, then one
/// `Event{wall_time, step, summary{value{tag, simple_value}}}` per scalar. Readable by
/// TensorBoard's `EventAccumulator` (tags per spec §6.3, see `LogTags`).
///
/// Events are buffered and appended to the file by `flush()`, when the buffer passes
/// `flushBytes`, or when `flushSeconds` have passed since the last flush. An event file is an
/// append-only stream, so it is not written by rename like the project's other files; a crash
/// loses at most the unflushed tail, and the file stays a valid prefix of records.
///
/// Write errors after creation do not stop training: the first one is printed to stderr and kept
/// in `failure`, and later events are dropped. Thread-safe.
public final class TensorBoardWriter: @unchecked Sendable {
    /// Flush once this many bytes are buffered.
    public static let flushBytes = 1 << 16
    /// Flush when this many seconds passed since the last flush (PyTorch's SummaryWriter uses 120).
    public static let flushSeconds = 10.0

    /// The event file.
    public let path: String
    /// The first write error, if any (later events were dropped).
    public private(set) var failure: LoggingError?

    private let handle: FileHandle
    private var buffer = [UInt8]()
    private var lastFlush = Date()
    private var closed = false
    private let lock = NSLock()

    /// Creates `directory` if needed and a new event file in it, and writes the file-version event.
    public init(directory: String) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw LoggingError.io(path: directory, message: "cannot create log directory: \(error)")
        }
        let now = Date().timeIntervalSince1970
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let base = (directory as NSString).appendingPathComponent(
            "events.out.tfevents.\(String(format: "%010d", Int(now))).\(host.isEmpty ? "localhost" : host)")
        var candidate = base, n = 0
        while fm.fileExists(atPath: candidate) { n += 1; candidate = "\(base).\(n)" }
        guard fm.createFile(atPath: candidate, contents: nil), let h = FileHandle(forWritingAtPath: candidate) else {
            throw LoggingError.io(path: candidate, message: "cannot create event file")
        }
        path = candidate
        handle = h
        append(TensorBoardEvent(wallTime: now, step: 0, fileVersion: TensorBoardEvent.fileVersion))
        flush()
        if let failure { throw failure }
    }

    deinit { close() }

    /// Logs `value` under `tag` at `step` (stored as float32 `simple_value`, as TensorBoard does).
    public func scalar(_ tag: String, _ value: Double, step: Int) {
        append(TensorBoardEvent(wallTime: Date().timeIntervalSince1970, step: Int64(step),
                                scalars: [.init(tag: tag, value: Float(value))]))
    }

    /// Logs each metric as `<prefix>/<name>` at `step`, e.g. `scalars("eval_epoch", metrics.means(), step: epoch)`.
    public func scalars(_ prefix: String, _ values: [(name: String, value: Double)], step: Int) {
        for (name, value) in values { scalar("\(prefix)/\(name)", value, step: step) }
    }

    /// Appends the buffered events to the file.
    public func flush() {
        lock.lock(); defer { lock.unlock() }
        flushLocked()
    }

    /// Flushes and closes the file; later calls do nothing.
    public func close() {
        lock.lock(); defer { lock.unlock() }
        if closed { return }
        flushLocked()
        try? handle.close()
        closed = true
    }

    private func append(_ event: TensorBoardEvent) {
        lock.lock(); defer { lock.unlock() }
        if closed || failure != nil { return }
        TFRecord.frame(event.encoded(), into: &buffer)
        if buffer.count >= Self.flushBytes || Date().timeIntervalSince(lastFlush) >= Self.flushSeconds { flushLocked() }
    }

    private func flushLocked() {
        lastFlush = Date()
        if buffer.isEmpty || closed || failure != nil { buffer.removeAll(); return }
        do { try handle.write(contentsOf: buffer) } catch {
            failure = .io(path: path, message: "cannot write events: \(error)")
            FileHandle.standardError.write(Data("warning: \(failure!); TensorBoard logging stopped\n".utf8))
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Reads a TensorBoard event file (as written by `TensorBoardWriter`, or by TensorFlow/PyTorch for
/// the scalar parts), checking every CRC.
public enum TensorBoardEventFile {
    public static func read(_ path: String) throws -> [TensorBoardEvent] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoggingError.io(path: path, message: "cannot read event file: \(error)")
        }
        return try TFRecord.records([UInt8](data), path: path).map {
            try TensorBoardEvent.decode($0.data, path: path, offset: $0.offset)
        }
    }
}
