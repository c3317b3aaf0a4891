import Foundation
import GRCore

extension CUDABackend {
    /// Scalars in double as `OptimizerKernels.adamw` (PyTorch's Python-side arithmetic), then f32.
    public func adamwStep(params: Tensor, grads: Tensor, m: Tensor, v: Tensor, step: Int, lr: Float, beta1: Float,
                          beta2: Float, eps: Float, weightDecay: Float) {
        precondition(step >= 1, "AdamW step counts from 1, got \(step)")
        let lrD = Double(lr), b1 = Double(beta1), b2 = Double(beta2)
        let decay = Float(1 - lrD * Double(weightDecay))
        let bc1 = 1 - Foundation.pow(b1, Double(step)), bc2 = 1 - Foundation.pow(b2, Double(step))
        let n = params.count
        if let s0 = deviceStep {   // a captured step: t = device step + (step − the capture's step index)
            context.launch("gr_adam_prepare", blocks: 1, block: 1, [.f(lr), .f(beta1), .f(beta2), .i(step - s0)])
            context.launch("gr_adamw", blocks: blocks(n),
                           [.ptr(params), .ptr(grads), .ptr(m), .ptr(v), .i(n), .f(decay), .f(.nan), .f(.nan),
                            .f(beta1), .f(beta2), .f(eps)])
            return
        }
        context.launch("gr_adamw", blocks: blocks(n),
                       [.ptr(params), .ptr(grads), .ptr(m), .ptr(v), .i(n), .f(decay), .f(Float(lrD / bc1)),
                        .f(Float(bc2.squareRoot())), .f(beta1), .f(beta2), .f(eps)])
    }
}
