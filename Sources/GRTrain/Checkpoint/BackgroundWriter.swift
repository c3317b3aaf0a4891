import Foundation

/// Runs one file-writing job at a time on a background thread, so that the per-epoch
/// `latest.safetensors` of a device run (already copied to host tensors that nothing else
/// touches) is serialised and written while the next epoch trains. `submit` first waits for the
/// previous job; `wait` joins the current one and rethrows its error (a failed write surfaces at
/// the next submit or at the end of the run). The file itself is written atomically by the job.
final class BackgroundWriter: @unchecked Sendable {
    private let lock = NSCondition()
    private var running = false
    private var failure: Error?

    /// Waits for the previous job, then starts `job` on a new thread.
    func submit(_ job: @escaping () throws -> Void) throws {
        try wait()
        lock.lock()
        running = true
        lock.unlock()
        let box = JobBox(job)
        let thread = Thread { [self] in
            var error: Error?
            do { try box.job() } catch let e { error = e }
            lock.lock()
            failure = error
            running = false
            lock.broadcast()
            lock.unlock()
        }
        thread.start()
    }

    /// Blocks until no job runs; rethrows (once) the error of the last one.
    func wait() throws {
        lock.lock()
        while running { lock.wait() }
        let e = failure
        failure = nil
        lock.unlock()
        if let e { throw e }
    }

    private final class JobBox: @unchecked Sendable {
        let job: () throws -> Void
        init(_ job: @escaping () throws -> Void) { self.job = job }
    }
}
