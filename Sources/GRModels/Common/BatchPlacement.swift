import GRCore

/// Where the sequences of one rank's share of a data-parallel step sit in the step's global batch
/// (GRTrain/Distributed splits the global batch across ranks). With a placement, the random draws of
/// a step are indexed by GLOBAL rows, so a rank draws exactly the numbers the unsplit batch would
/// draw for the same sequences and N ranks reproduce the single-process step:
/// - negatives: negative r of global supervised position p is drawn from word p·R + r of the
///   negatives stream (`NegativeSource.placed`);
/// - HSTU dropout (input and per layer): element (row, c) of a jagged (T, W) tensor uses index
///   globalRow·W + c (`RowDropout` with a row map).
/// SASRec keeps rank-local dropout streams (its attention dropout lives inside the backend's
/// attention op); its negatives are placed.
///
/// Shapes: B local sequences, G global sequences.
public struct BatchPlacement: Sendable, Equatable {
    /// (B) the global index of each local sequence, in the local batch's order.
    public let members: [Int]
    /// (G) history length L of every global sequence (its jagged rows).
    public let globalLengths: [Int]
    /// (G) supervised positions of every global sequence (t < L whose next id is not 0).
    public let globalSupervised: [Int]

    public init(members: [Int], globalLengths: [Int], globalSupervised: [Int]) {
        precondition(globalLengths.count == globalSupervised.count, "placement: lengths and supervised counts differ")
        precondition(members.allSatisfy { $0 >= 0 && $0 < globalLengths.count }, "placement: member out of range")
        self.members = members
        self.globalLengths = globalLengths
        self.globalSupervised = globalSupervised
    }

    /// Supervised positions of every row of `input` (t < L_b with ids[b, t + 1] ≠ 0), as the
    /// autoregressive loss counts them.
    public static func supervisedCounts(_ input: ModelInput) -> [Int] {
        let n = input.paddedWidth
        return (0..<input.batchSize).map { b in
            (0..<input.layout.length(b)).reduce(0) { $0 + (input.ids[b * n + $1 + 1] != 0 ? 1 : 0) }
        }
    }

    /// T_global: jagged rows of the whole global batch.
    public var globalTokens: Int { globalLengths.reduce(0, +) }
    /// P_global: supervised positions of the whole global batch.
    public var globalPositions: Int { globalSupervised.reduce(0, +) }

    private static func prefix(_ v: [Int]) -> [Int] {
        var out = [Int](repeating: 0, count: v.count + 1)
        for i in 0..<v.count { out[i + 1] = out[i] + v[i] }
        return out
    }

    /// (T_local) the global jagged row of each local jagged row.
    public func jaggedRowMap() -> [Int32] {
        let start = Self.prefix(globalLengths)
        var out: [Int32] = []
        for g in members { for t in 0..<globalLengths[g] { out.append(Int32(start[g] + t)) } }
        return out
    }

    /// Contiguous runs (local start, global start, count) mapping local supervised positions to
    /// global ones; adjacent runs are merged.
    public func supervisedRuns() -> [(local: Int, global: Int, count: Int)] {
        let start = Self.prefix(globalSupervised)
        var runs: [(local: Int, global: Int, count: Int)] = []
        var local = 0
        for g in members where globalSupervised[g] > 0 {
            let c = globalSupervised[g]
            if let last = runs.last, last.local + last.count == local, last.global + last.count == start[g] {
                runs[runs.count - 1].count += c
            } else {
                runs.append((local, start[g], c))
            }
            local += c
        }
        return runs
    }
}
