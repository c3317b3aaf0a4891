// torch.optim.AdamW (single tensor, non-amsgrad); the scalar factors come from the host in f32,
// computed in double as Python does (see OptimizerKernels.adamw).
extern "C" __global__ void gr_adamw(float* p, const float* g, float* m, float* v, i64 n, float decay, float stepSize,
                                    float bc2Sqrt, float b1, float b2, float eps) {
    GR_GRID_STRIDE(i, n) {
        float gi = g[i];
        float pi = p[i] * decay;
        float mi = m[i] + (1.0f - b1) * (gi - m[i]);
        float vi = v[i] * b2 + (1.0f - b2) * gi * gi;
        m[i] = mi; v[i] = vi;
        p[i] = pi - stepSize * (mi / (sqrtf(vi) / bc2Sqrt + eps));
    }
}
