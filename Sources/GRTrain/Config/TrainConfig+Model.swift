import GRModels

extension TrainConfig {
    /// The model half of the config, as GRModels takes it.
    public var modelConfig: ModelConfig {
        ModelConfig(
            kind: kind == .hstu ? .hstu : .sasrec, itemDim: itemDim, blocks: blocks, heads: heads,
            dqk: kind == .hstu ? dqk : 0, dv: kind == .hstu ? dv : 0, ffnHidden: kind == .sasrec ? ffnHidden : 0,
            inputDropout: Float(inputDropout), blockDropout: Float(blockDropout),
            maxSequenceLength: maxSequenceLength, outputLength: outputLength, numNegatives: numNegatives,
            temperature: Float(temperature), loss: loss == .bce ? .bce : .sampledSoftmax, l2Eps: Float(l2Eps))
    }
}
