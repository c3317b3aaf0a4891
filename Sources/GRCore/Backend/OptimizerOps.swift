/// The AdamW step with PyTorch semantics (spec §5.1: lr 1e-3, betas (0.9, 0.98), eps 1e-8).
public protocol OptimizerOps {
    /// One `torch.optim.AdamW` step over flat f32 tensors of equal count (params, grads, m, v),
    /// `step` = t ≥ 1 (the number of steps including this one):
    ///   p ← p − lr·wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
    ///   p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + eps).
    /// m and v are updated in place.
    func adamwStep(params: Tensor, grads: Tensor, m: Tensor, v: Tensor, step: Int, lr: Float, beta1: Float,
                   beta2: Float, eps: Float, weightDecay: Float)
}
