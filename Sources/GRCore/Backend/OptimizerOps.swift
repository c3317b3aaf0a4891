/// The AdamW step with PyTorch semantics.
public protocol OptimizerOps {
}
