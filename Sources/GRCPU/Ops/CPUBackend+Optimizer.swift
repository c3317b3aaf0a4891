import GRCore

extension CPUBackend {
    public func adamwStep(params: Tensor, grads: Tensor, m: Tensor, v: Tensor, step: Int, lr: Float, beta1: Float,
                          beta2: Float, eps: Float, weightDecay: Float) {
        let n = params.count
        check(n, grads, m, v)
        // Python passes the hyper-parameters as doubles; Float literals such as 0.98 are widened
        // from their f32 value here (the difference is below f32 resolution in every product).
        OptimizerKernels.adamw(params.floats, grads.floats, m.floats, v.floats, n, step: step, lr: Double(lr),
                               beta1: Double(beta1), beta2: Double(beta2), eps: Double(eps),
                               weightDecay: Double(weightDecay))
    }
}
