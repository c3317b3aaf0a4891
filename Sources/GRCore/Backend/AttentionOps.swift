/// Fused jagged HSTU attention with relative position/time bias, and causal multi-head softmax attention (SASRec).
public protocol AttentionOps {
}
