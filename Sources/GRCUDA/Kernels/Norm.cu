// NormOps: one block per row (blockDim.x a multiple of 32). Backwards accumulate (+=).

// out = u ⊙ LN(x) (u null: out = LN(x)); x, out (rows, cols); u stride ldu; mean, rstd (rows).
extern "C" __global__ void gr_layer_norm_fwd(const float* x, const float* u, i64 ldu, float* out, float* mean, float* rstd,
                                             i64 rows, i64 cols, float eps) {
    __shared__ float scratch[32];
    i64 r = blockIdx.x;
    const float* px = x + r * cols;
    float s = 0.0f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += px[c];
    float invC = 1.0f / (float)cols;
    float mu = gr_block_sum(s, scratch) * invC;
    float q = 0.0f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) { float d = px[c] - mu; q += d * d; }
    float rs = 1.0f / sqrtf(gr_block_sum(q, scratch) * invC + eps);
    if (threadIdx.x == 0) { mean[r] = mu; rstd[r] = rs; }
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
        float h = (px[c] - mu) * rs;
        out[r * cols + c] = u ? u[r * ldu + c] * h : h;
    }
}

// For out = u ⊙ x̂: du += dOut ⊙ x̂; g = dOut ⊙ u (dOut if u null); dx += rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)).
// acc = 0 OVERWRITES instead (fusions, session 6): du = dOut ⊙ x̂, dx = res + rstd·(…) (res null: 0),
// so the zero-fill / residual copy before the backward is not needed.
extern "C" __global__ void gr_layer_norm_bwd(const float* dOut, const float* x, const float* u, i64 ldu,
                                             const float* mean, const float* rstd, float* dx, float* du, i64 rows, i64 cols,
                                             const float* res, i64 acc) {
    __shared__ float scratch[32];
    i64 r = blockIdx.x;
    const float* px = x + r * cols;
    const float* po = dOut + r * cols;
    float mu = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
        float h = (px[c] - mu) * rs;
        float g = po[c];
        if (u) {
            if (du) du[r * ldu + c] = acc ? du[r * ldu + c] + g * h : g * h;
            g *= u[r * ldu + c];
        }
        sg += g; sgx += g * h;
    }
    if (!dx) return;
    float invC = 1.0f / (float)cols;
    float mg = gr_block_sum(sg, scratch) * invC;
    float mgx = gr_block_sum(sgx, scratch) * invC;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
        float h = (px[c] - mu) * rs;
        float g = u ? po[c] * u[r * ldu + c] : po[c];
        float v = rs * (g - mg - h * mgx);
        dx[r * cols + c] = acc ? dx[r * cols + c] + v : (res ? res[r * cols + c] + v : v);
    }
}

// out = x / max(‖x‖, eps); norms (rows) unclamped.
extern "C" __global__ void gr_l2_fwd(const float* x, float* out, float* norms, i64 rows, i64 cols, float eps) {
    __shared__ float scratch[32];
    i64 r = blockIdx.x;
    const float* px = x + r * cols;
    float s = 0.0f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += px[c] * px[c];
    float n = sqrtf(gr_block_sum(s, scratch));
    if (threadIdx.x == 0) norms[r] = n;
    float inv = 1.0f / fmaxf(n, eps);
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) out[r * cols + c] = px[c] * inv;
}

// dx += (g − y(y·g))/‖x‖ if ‖x‖ ≥ eps else g/eps.
extern "C" __global__ void gr_l2_bwd(const float* dOut, const float* x, const float* norms, float* dx, i64 rows, i64 cols, float eps) {
    __shared__ float scratch[32];
    i64 r = blockIdx.x;
    const float* px = x + r * cols;
    const float* pg = dOut + r * cols;
    float n = norms[r];
    float s = 0.0f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += px[c] * pg[c];
    float xg = gr_block_sum(s, scratch);
    if (n >= eps) {
        float inv = 1.0f / n, k = xg * inv * inv * inv;
        for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dx[r * cols + c] += pg[c] * inv - px[c] * k;
    } else {
        float inv = 1.0f / eps;
        for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dx[r * cols + c] += inv * pg[c];
    }
}
