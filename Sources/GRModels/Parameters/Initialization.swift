import Foundation
import GRCore

/// The reference initialisations (spec §2.1, §2.5, §3), drawn from Philox so that every backend and
/// every run with the same seed starts from the same parameters.
///
/// Parameter number `k` of the arena (registration order) draws from
/// PhiloxStream(seed, RandomStreamKind.initialization.stream(step: 0, slot: k)):
/// - `normal` element i: Box–Muller on words 2i, 2i+1: u1 = ((w >> 8) + 1)·2⁻²⁴ ∈ (0, 1],
///   u2 = (w >> 8)·2⁻²⁴, z = √(−2 ln u1)·cos(2π u2), computed in Float64, rounded to f32;
/// - `truncatedNormal` element i: normal draws 4i..4i+3, the first with |z| < 2, else draw 4i
///   (the reference's `truncated_normal`: 4 draws, first valid one, index 0 when none is);
/// - `uniform` element i: lo + (hi − lo)·uniform(i).
public enum Initialization {
    /// Truncation bound of the reference's truncated normal, in standard deviations (spec §2.1).
    static let truncationBound = 2.0
    /// Draws per element of the reference's truncated normal (spec §2.1).
    static let truncationDraws = 4
    /// Item-table std (spec §2.1) and HSTU W_uvqk / w_pos / w_ts std (spec §2.2, §2.3).
    static let smallStd = 0.02

    static func stream(_ seed: UInt64, _ slot: Int) -> PhiloxStream {
        PhiloxStream(seed: seed, stream: RandomStreamKind.initialization.stream(step: 0, slot: slot))
    }

    /// Standard normal number i of `s`.
    static func normal(_ s: PhiloxStream, _ i: Int) -> Double {
        let w1 = s.uint32(UInt64(2 * i)), w2 = s.uint32(UInt64(2 * i + 1))
        let u1 = (Double(w1 >> 8) + 1) / 16_777_216.0
        let u2 = Double(w2 >> 8) / 16_777_216.0
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    static func fillNormal(_ arena: ParameterArena, _ name: String, std: Double, seed: UInt64) {
        let s = stream(seed, slot(arena, name))
        let n = arena.value(name).count
        arena.setValue(name, (0..<n).map { Float(std * normal(s, $0)) })
    }

    static func fillTruncatedNormal(_ arena: ParameterArena, _ name: String, std: Double, seed: UInt64) {
        let s = stream(seed, slot(arena, name))
        let n = arena.value(name).count
        arena.setValue(name, (0..<n).map { i in
            var z = normal(s, truncationDraws * i)
            for t in 1..<truncationDraws where abs(z) >= truncationBound {
                z = normal(s, truncationDraws * i + t)
            }
            // All four invalid: the reference takes draw 0.
            if abs(z) >= truncationBound { z = normal(s, truncationDraws * i) }
            return Float(std * z)
        })
    }

    static func fillUniform(_ arena: ParameterArena, _ name: String, bound: Double, seed: UInt64) {
        let s = stream(seed, slot(arena, name))
        let n = arena.value(name).count
        arena.setValue(name, (0..<n).map { Float(-bound + 2 * bound * Double(s.uniform(UInt64($0)))) })
    }

    /// PyTorch fans of a weight of shape [out, in, (kernel…)]: fan_in = in·k, fan_out = out·k.
    static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Xavier-normal: std = √(2 / (fan_in + fan_out)).
    static func fillXavierNormal(_ arena: ParameterArena, _ name: String, seed: UInt64) {
        let f = fans(arena.shape(name))
        fillNormal(arena, name, std: (2.0 / Double(f.fanIn + f.fanOut)).squareRoot(), seed: seed)
    }

    /// Xavier-uniform: bound = √(6 / (fan_in + fan_out)).
    static func fillXavierUniform(_ arena: ParameterArena, _ name: String, seed: UInt64) {
        let f = fans(arena.shape(name))
        fillUniform(arena, name, bound: (6.0 / Double(f.fanIn + f.fanOut)).squareRoot(), seed: seed)
    }

    static func slot(_ arena: ParameterArena, _ name: String) -> Int {
        arena.entries.firstIndex { $0.name == name }!
    }

    /// HSTU (spec §2.5): E truncated normal 0.02; P Xavier-normal (HSTU's reset_params overrides the
    /// preprocessor's √(1/D) init); W_uvqk Normal(0, 0.02); f2 Xavier-uniform weight and PyTorch
    /// default bias Uniform(±1/√(H·Dv)); w_pos, w_ts Normal(0, 0.02).
    public static func hstu(_ arena: ParameterArena, config c: ModelConfig, seed: UInt64) {
        typealias P = ParameterNames.HSTU
        fillTruncatedNormal(arena, ParameterNames.itemEmbedding, std: smallStd, seed: seed)
        fillXavierNormal(arena, ParameterNames.positionalEmbedding, seed: seed)
        for l in 0..<c.blocks {
            fillNormal(arena, P.uvqk(l), std: smallStd, seed: seed)
            fillNormal(arena, P.timeWeights(l), std: smallStd, seed: seed)
            fillNormal(arena, P.positionWeights(l), std: smallStd, seed: seed)
            fillXavierUniform(arena, P.outWeight(l), seed: seed)
            fillUniform(arena, P.outBias(l), bound: 1 / Double(c.heads * c.dv).squareRoot(), seed: seed)
        }
    }

    /// SASRec (spec §3): E truncated normal 0.02; P truncated normal √(1/D); Xavier-normal for every
    /// ≥ 2-D block parameter (in-proj as one (3D, D) matrix, conv weights (out, in, 1)); MHA biases 0;
    /// conv biases PyTorch default Uniform(±1/√fan_in).
    public static func sasrec(_ arena: ParameterArena, config c: ModelConfig, seed: UInt64) {
        typealias P = ParameterNames.SASRec
        fillTruncatedNormal(arena, ParameterNames.itemEmbedding, std: smallStd, seed: seed)
        fillTruncatedNormal(arena, ParameterNames.positionalEmbedding,
                            std: (1 / Double(c.itemDim)).squareRoot(), seed: seed)
        for l in 0..<c.blocks {
            fillXavierNormal(arena, P.inProjWeight(l), seed: seed)
            arena.setValue(P.inProjBias(l), [Float](repeating: 0, count: 3 * c.itemDim))
            fillXavierNormal(arena, P.outProjWeight(l), seed: seed)
            arena.setValue(P.outProjBias(l), [Float](repeating: 0, count: c.itemDim))
            fillXavierNormal(arena, P.conv1Weight(l), seed: seed)
            fillUniform(arena, P.conv1Bias(l), bound: 1 / Double(c.itemDim).squareRoot(), seed: seed)
            fillXavierNormal(arena, P.conv2Weight(l), seed: seed)
            fillUniform(arena, P.conv2Bias(l), bound: 1 / Double(c.ffnHidden).squareRoot(), seed: seed)
        }
    }
}
