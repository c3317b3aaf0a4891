import Foundation

/// The live progress line on stderr: epoch, step/steps, loss, examples/s, ETA of the epoch.
/// On a terminal it redraws one line (`\r`); otherwise (a log file) it prints a line at most every
/// `interval` seconds so logs stay short.
struct Progress {
    let enabled: Bool
    let isTerminal = isatty(2) != 0
    let interval: Double
    var lastPrint = 0.0

    init(enabled: Bool, interval: Double = 30) {
        self.enabled = enabled
        self.interval = interval
    }

    /// Mean wall seconds of the epochs completed so far in this invocation (training + evaluation),
    /// for the ETA of the whole run; nil before the first epoch ends.
    var secondsPerEpoch: Double? = nil

    mutating func update(epoch: Int, epochs: Int, batch: Int, batches: Int, loss: Double, examples: Int, elapsed: Double) {
        guard enabled else { return }
        let now = Date().timeIntervalSinceReferenceDate
        let last = batch == batches
        if !isTerminal && !last && now - lastPrint < interval { return }
        if isTerminal && !last && now - lastPrint < 0.2 { return }
        lastPrint = now
        let rate = elapsed > 0 ? Double(examples) / elapsed : 0
        let eta = batch > 0 ? elapsed / Double(batch) * Double(batches - batch) : 0
        var line = String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.0f ex/s  ETA %@",
                          epoch, epochs, batch, batches, loss, rate, Self.duration(eta))
        if let secondsPerEpoch {
            line += "  (run ETA \(Self.duration(eta + secondsPerEpoch * Double(epochs - epoch - 1))))"
        }
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (last ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// "1h02m", "3m05s", "12s".
    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, t % 3600 / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return "\(t)s"
    }
}
