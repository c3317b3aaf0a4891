import GRCore
import GRCPU
import GRTestSupport
@testable import GRModels

/// Builds the tiny models of `hstu_model` / `sasrec_model` (manifest configs) with the fixture's
/// parameters and batch.
enum ModelFixture {
    static func config(_ kind: ModelKind) -> ModelConfig {
        switch kind {
        case .hstu:
            return ModelConfig(kind: .hstu, itemDim: 8, blocks: 2, heads: 1, dqk: 8, dv: 8, inputDropout: 0,
                               blockDropout: 0, maxSequenceLength: 10, numNegatives: 5)
        case .sasrec:
            return ModelConfig(kind: .sasrec, itemDim: 8, blocks: 2, heads: 1, ffnHidden: 8, inputDropout: 0,
                               blockDropout: 0, maxSequenceLength: 10, numNegatives: 5)
        }
    }

    static func load(_ kind: ModelKind) throws -> (SafeTensorsFile, any SequentialRecommender, ModelInput, [Int32]) {
        let f = try Shared.fixture(kind == .hstu ? "hstu_model" : "sasrec_model")
        let c = config(kind)
        let model = makeModel(c, maxItemId: 20, corpus: (1...20).map(Int32.init), backend: CPUBackend(), seed: 1)
        for e in model.parameters.entries {
            model.parameters.setValue(e.name, try f.floats("param." + e.name))
        }
        // Every fixture parameter is in the arena and vice versa.
        let fixtureParams = f.names.filter { $0.hasPrefix("param.") }
        precondition(fixtureParams.count == model.parameters.entries.count,
                     "fixture has \(fixtureParams.count) params, arena \(model.parameters.entries.count)")
        let lengths = try f.int64s("input.past_lengths").map { Int($0) }
        let input = ModelInput(layout: JaggedLayout(lengths: lengths), paddedWidth: c.paddedWidth,
                               ids: try f.int64s("input.past_ids").map { Int32($0) },
                               timestamps: try f.int64s("input.timestamps"))
        let negatives = try f.int64s("input.negative_ids").map { Int32($0) }
        return (f, model, input, negatives)
    }
}
