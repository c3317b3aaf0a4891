import ArgumentParser
import Foundation
import GRCore
import GRCPU
import GRData
import GREval
import GRTrain

/// `gr eval`: the metrics table (spec §7's columns) of a checkpoint on a split.
public struct EvalCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint by full-corpus ranking (HR/NDCG@10/50/200, MRR).")

    enum Split: String, ExpressibleByArgument, CaseIterable {
        /// Target = each user's last item (ignore_last_n 0).
        case test
        /// Target = each user's 2nd-to-last item (ignore_last_n 1).
        case validation
    }

    @Option(name: .long, help: "A checkpoint written by `gr train` (latest.safetensors, epoch-<e>.safetensors).")
    var checkpoint: String

    @Option(name: .long, help: "The store the model was trained on.")
    var data: String

    @Option(name: .long, help: "test (last item) or validation (2nd-to-last item; only held out by runs trained with validation=true).")
    var split: Split = .test

    @Option(name: .customLong("ranks-out"), help: "Write per-user ranks (CSV user,target,rank) here.")
    var ranksOut: String?

    @Option(name: .long, help: "auto (CUDA when it loads, else CPU), cpu or cuda.")
    var device: DeviceChoice = .auto

    @Option(name: .long, help: "CPU threads.")
    var threads: Int?

    public init() {}

    public func run() throws {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threads = threads
        }
        do {
            let store = try SequenceStore.open(directory: data)
            let (backend, deviceMessage) = try device.makeBackend()
            print(deviceMessage)
            let (model, ckpt) = try loadModel(checkpoint: checkpoint, store: store, backend: backend)
            let view = split == .test ? Trainer.testView : Trainer.validationView
            let t0 = Date()
            let r = evaluateRanking(model: model, store: store, view: view, config: ckpt.config, epoch: 0,
                                    collectRanks: ranksOut != nil, backend: backend)
            print("\(checkpoint): \(ckpt.config.name) after \(ckpt.epoch) epochs (\(ckpt.step) steps), "
                  + "\(split.rawValue) split, \(r.users) users, \(String(format: "%.1f", Date().timeIntervalSince(t0)))s")
            print(metricsTable(r.means, label: split.rawValue))
            if let ranksOut { try RankFile.write(r.ranks, to: ranksOut) }
        } catch {
            throw CLIFailure("\(error)")
        }
    }
}
