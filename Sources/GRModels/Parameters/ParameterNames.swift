/// The reference's `state_dict` keys (checked against the fixtures' `param.*` tensors), so that
/// checkpoints written from the arena load into the PyTorch reference unchanged.
public enum ParameterNames {
    /// Item table E, (maxItemId + 1, D); row 0 = padding (spec §2.1).
    public static let itemEmbedding = "_embedding_module._item_emb.weight"
    /// Absolute positional table P, (N, D) (spec §2.1).
    public static let positionalEmbedding = "_input_features_preproc._pos_emb.weight"

    /// HSTU layer `l` (spec §2.2, §2.3).
    public enum HSTU {
        static func prefix(_ l: Int) -> String { "_hstu._attention_layers.\(l)." }
        /// W_uvqk, (D, 2·H·Dv + 2·H·Dqk), used as LN(x)·W.
        public static func uvqk(_ l: Int) -> String { prefix(l) + "_uvqk" }
        /// w_ts, (129).
        public static func timeWeights(_ l: Int) -> String { prefix(l) + "_rel_attn_bias._ts_w" }
        /// w_pos, (2N − 1).
        public static func positionWeights(_ l: Int) -> String { prefix(l) + "_rel_attn_bias._pos_w" }
        /// f2 weight, (D, H·Dv) PyTorch Linear layout.
        public static func outWeight(_ l: Int) -> String { prefix(l) + "_o.weight" }
        /// f2 bias, (D).
        public static func outBias(_ l: Int) -> String { prefix(l) + "_o.bias" }
    }

    /// SASRec block `l` (spec §3).
    public enum SASRec {
        /// MHA in-projection, (3D, D) = rows [W_q; W_k; W_v].
        public static func inProjWeight(_ l: Int) -> String { "attention_layers.\(l).in_proj_weight" }
        /// (3D) = [b_q; b_k; b_v].
        public static func inProjBias(_ l: Int) -> String { "attention_layers.\(l).in_proj_bias" }
        /// (D, D).
        public static func outProjWeight(_ l: Int) -> String { "attention_layers.\(l).out_proj.weight" }
        public static func outProjBias(_ l: Int) -> String { "attention_layers.\(l).out_proj.bias" }
        /// First FFN conv, (F, D, 1).
        public static func conv1Weight(_ l: Int) -> String { "forward_layers.\(l)._conv1d.0.weight" }
        public static func conv1Bias(_ l: Int) -> String { "forward_layers.\(l)._conv1d.0.bias" }
        /// Second FFN conv, (D, F, 1).
        public static func conv2Weight(_ l: Int) -> String { "forward_layers.\(l)._conv1d.3.weight" }
        public static func conv2Bias(_ l: Int) -> String { "forward_layers.\(l)._conv1d.3.bias" }
    }

    /// Arena layout of an HSTU model, in the reference's state_dict order.
    public static func hstu(_ c: ModelConfig, tableRows: Int) -> [(name: String, shape: [Int])] {
        let d = c.itemDim, n = c.paddedWidth
        let uvqkWidth = 2 * c.heads * c.dv + 2 * c.heads * c.dqk
        var specs: [(name: String, shape: [Int])] = [
            (itemEmbedding, [tableRows, d]),
            (positionalEmbedding, [n, d]),
        ]
        for l in 0..<c.blocks {
            specs.append((HSTU.uvqk(l), [d, uvqkWidth]))
            specs.append((HSTU.timeWeights(l), [HSTUModel.timeBucketCount]))
            specs.append((HSTU.positionWeights(l), [2 * n - 1]))
            specs.append((HSTU.outWeight(l), [d, c.heads * c.dv]))
            specs.append((HSTU.outBias(l), [d]))
        }
        return specs
    }

    /// Arena layout of a SASRec model, in the reference's state_dict order (all attention layers,
    /// then all forward layers, as the reference registers its ModuleLists).
    public static func sasrec(_ c: ModelConfig, tableRows: Int) -> [(name: String, shape: [Int])] {
        let d = c.itemDim, f = c.ffnHidden
        var specs: [(name: String, shape: [Int])] = [
            (itemEmbedding, [tableRows, d]),
            (positionalEmbedding, [c.paddedWidth, d]),
        ]
        for l in 0..<c.blocks {
            specs.append((SASRec.inProjWeight(l), [3 * d, d]))
            specs.append((SASRec.inProjBias(l), [3 * d]))
            specs.append((SASRec.outProjWeight(l), [d, d]))
            specs.append((SASRec.outProjBias(l), [d]))
        }
        for l in 0..<c.blocks {
            specs.append((SASRec.conv1Weight(l), [f, d, 1]))
            specs.append((SASRec.conv1Bias(l), [f]))
            specs.append((SASRec.conv2Weight(l), [d, f, 1]))
            specs.append((SASRec.conv2Bias(l), [d]))
        }
        return specs
    }
}
