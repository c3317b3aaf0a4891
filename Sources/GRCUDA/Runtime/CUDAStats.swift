import Foundation

/// Counters of the work a `CUDAContext` queued and of the times the host waited for it: the
/// "host round trips" of issue #5 item 5 are `syncs` (stream synchronisations, each download
/// included).
public struct CUDAStats: Sendable, Equatable {
    public var launches = 0, gemms = 0, syncs = 0
    public var uploads = 0, uploadBytes = 0, downloads = 0, downloadBytes = 0
    /// Memsets and device-to-device copies queued.
    public var memsets = 0, deviceCopies = 0
    /// CUDA graph replays (each replays a whole captured step).
    public var graphLaunches = 0

    public init() {}

    /// The difference `self − earlier` (counters of one phase).
    public func since(_ earlier: CUDAStats) -> CUDAStats {
        var d = CUDAStats()
        d.launches = launches - earlier.launches
        d.gemms = gemms - earlier.gemms
        d.syncs = syncs - earlier.syncs
        d.uploads = uploads - earlier.uploads
        d.uploadBytes = uploadBytes - earlier.uploadBytes
        d.downloads = downloads - earlier.downloads
        d.downloadBytes = downloadBytes - earlier.downloadBytes
        d.memsets = memsets - earlier.memsets
        d.deviceCopies = deviceCopies - earlier.deviceCopies
        d.graphLaunches = graphLaunches - earlier.graphLaunches
        return d
    }

    /// Stream operations queued (kernels, GEMMs, uploads, memsets, device copies): each is at
    /// least one node of a CUDA graph that captures it.
    public var streamOps: Int { launches + gemms + uploads + memsets + deviceCopies }

    public var describe: String {
        "\(launches) kernel launches, \(gemms) GEMMs, \(graphLaunches) graph launches, \(syncs) host waits, "
            + "\(uploads) uploads (\(uploadBytes >> 10) KiB), \(downloads) downloads (\(downloadBytes >> 10) KiB)"
    }
}

/// Per-kernel host wall time with a synchronisation after every launch (`GR_CUDA_PROFILE=1`).
/// Includes the launch overhead; meant to rank kernels, not to time them precisely.
public final class CUDAKernelProfile: @unchecked Sendable {
    private var totals: [String: (seconds: Double, count: Int)] = [:]
    private let lock = NSLock()

    static func fromEnvironment() -> CUDAKernelProfile? {
        ProcessInfo.processInfo.environment["GR_CUDA_PROFILE"].map { $0 != "0" && !$0.isEmpty } == true ? CUDAKernelProfile() : nil
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    func record(_ name: String, context: CUDAContext, start: Double) {
        context.synchronize()
        let dt = Self.now() - start
        lock.lock()
        let old = totals[name] ?? (0, 0)
        totals[name] = (old.seconds + dt, old.count + 1)
        lock.unlock()
    }

    /// A table of the `top` kernels by total time.
    public func report(top: Int = 25) -> String {
        lock.lock(); defer { lock.unlock() }
        let all = totals.sorted { $0.value.seconds > $1.value.seconds }
        let sum = all.reduce(0) { $0 + $1.value.seconds }
        var lines = ["| kernel | calls | total s | µs/call | share |", "|---|---|---|---|---|"]
        for (name, v) in all.prefix(top) {
            lines.append(String(format: "| %@ | %d | %.3f | %.1f | %.1f%% |", name, v.count, v.seconds,
                                v.seconds / Double(v.count) * 1e6, 100 * v.seconds / max(sum, 1e-12)))
        }
        lines.append(String(format: "| (all %d kernels) | | %.3f | | |", all.count, sum))
        return lines.joined(separator: "\n")
    }
}
