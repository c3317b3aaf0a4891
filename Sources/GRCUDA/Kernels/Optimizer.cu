// torch.optim.AdamW (single tensor, non-amsgrad); the scalar factors come from the host in f32,
// computed in double as Python does (see OptimizerKernels.adamw).
// AdamW's step-dependent scalars for a replayed step (t = gr_step_now + offset), in double as the
// host's adamwStep: gr_adam_scalars = (lr / (1 - b1^t), sqrt(1 - b2^t)). One thread.
__device__ float gr_adam_scalars[2];
extern "C" __global__ void gr_adam_prepare(float lr, float b1, float b2, i64 offset) {
    double t = (double)(gr_step_now + (u64)offset);
    gr_adam_scalars[0] = (float)((double)lr / (1.0 - pow((double)b1, t)));
    gr_adam_scalars[1] = (float)sqrt(1.0 - pow((double)b2, t));
}

// stepSize NaN: the scalars of gr_adam_prepare.
extern "C" __global__ void gr_adamw(float* p, const float* g, float* m, float* v, i64 n, float decay, float stepSize,
                                    float bc2Sqrt, float b1, float b2, float eps) {
    if (stepSize != stepSize) { stepSize = gr_adam_scalars[0]; bc2Sqrt = gr_adam_scalars[1]; }
    GR_GRID_STRIDE(i, n) {
        float gi = g[i];
        float pi = p[i] * decay;
        float mi = m[i] + (1.0f - b1) * (gi - m[i]);
        float vi = v[i] * b2 + (1.0f - b2) * gi * gi;
        m[i] = mi; v[i] = vi;
        p[i] = pi - stepSize * (mi / (sqrtf(vi) / bc2Sqrt + eps));
    }
}
