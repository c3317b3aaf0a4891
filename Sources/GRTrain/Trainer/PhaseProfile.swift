import Foundation
import GRCore

/// Wall-time breakdown of a training run by phase, on when `GR_PROFILE` is set (e.g.
/// `GR_PROFILE=1 gr train …`): each measured phase waits for the backend before and after
/// (`synchronize()`), so device work is charged to the phase that queued it. That waiting costs
/// overlap between host and device: a profiled run is slower than an unprofiled one; the shares
/// say where the time goes. Off, `measure` just runs its body (no synchronisation, no cost).
public final class PhaseProfile {
    /// The switch `GR_PROFILE` (`EnvironmentSwitch`: 1/on/true/yes; default off).
    public static let enabledByEnvironment = EnvironmentSwitch.value("GR_PROFILE", default: false)

    public let enabled: Bool
    let backend: any Backend
    private var totals: [String: (seconds: Double, count: Int)] = [:]
    private var order: [String] = []

    public init(backend: any Backend, enabled: Bool = PhaseProfile.enabledByEnvironment) {
        self.backend = backend
        self.enabled = enabled
    }

    /// Runs `body`, charging its wall time (device work included) to `phase`.
    public func measure<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        backend.synchronize()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        backend.synchronize()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        if totals[phase] == nil { order.append(phase) }
        let old = totals[phase] ?? (0, 0)
        totals[phase] = (old.seconds + dt, old.count + 1)
        return result
    }

    /// A markdown table: phase, calls, total seconds, ms per call, share of the measured total.
    public func report() -> String {
        let sum = totals.values.reduce(0) { $0 + $1.seconds }
        var lines = ["| phase | calls | total s | ms/call | share |", "|---|---|---|---|---|"]
        for name in order {
            let v = totals[name]!
            lines.append(String(format: "| %@ | %d | %.3f | %.3f | %.1f%% |", name, v.count, v.seconds,
                                v.seconds / Double(v.count) * 1e3, 100 * v.seconds / max(sum, 1e-12)))
        }
        lines.append(String(format: "| (measured) | | %.3f | | |", sum))
        return lines.joined(separator: "\n")
    }
}
