// AttentionOps, the simple correct version: one block per (token, head), keys (or queries) in
// chunks of blockDim.x, one thread per key of the chunk for the scores, then threads over the
// feature dim for the weighted sums. No N×N matrix is stored for HSTU. Tensor cores: later.
//
// HSTU (spec §2.2-2.3): for sequence b, query i < L_b, key j ≤ i:
//   s_ij = q_i·k_j + wPos[N−1+j−i] + wTs[bucket(T'[b, i+1] − T[b, j])],  a_ij = SiLU(s_ij)/N
// T' repeats the last column (T'[b, N] = T[b, N−1]).

__device__ __forceinline__ i64 gr_find_sequence(const int* offsets, i64 batch, i64 t) {
    i64 lo = 0, hi = batch;               // largest b with offsets[b] <= t
    while (hi - lo > 1) { i64 mid = (lo + hi) >> 1; if (offsets[mid] <= t) lo = mid; else hi = mid; }
    return lo;
}

// grid (T, H); shared: dqk + dv + blockDim floats. out (T, H·dv) overwritten.
extern "C" __global__ void gr_hstu_fwd(const float* q, const float* k, const float* v, i64 rs, const int* offsets, i64 batch,
                                       const i64* ts, const float* pw, const float* tw, const u64* bucketTable,
                                       i64 H, i64 dqk, i64 dv, i64 N, float* out) {
    extern __shared__ float smem[];
    float* qs = smem;
    float* acc = smem + dqk;
    float* w = smem + dqk + dv;
    i64 t = blockIdx.x, h = blockIdx.y;
    i64 b = gr_find_sequence(offsets, batch, t);
    i64 base = offsets[b], i = t - base;
    const i64* tsb = ts + b * N;
    i64 tq = tsb[i + 1 < N ? i + 1 : N - 1];
    float invN = 1.0f / (float)N;
    for (i64 d = threadIdx.x; d < dqk; d += blockDim.x) qs[d] = q[t * rs + h * dqk + d];
    for (i64 d = threadIdx.x; d < dv; d += blockDim.x) acc[d] = 0.0f;
    __syncthreads();
    for (i64 j0 = 0; j0 <= i; j0 += blockDim.x) {
        i64 j = j0 + threadIdx.x;
        float a = 0.0f;
        if (j <= i) {
            const float* kj = k + (base + j) * rs + h * dqk;
            float s = 0.0f;
            for (i64 d = 0; d < dqk; d++) s += qs[d] * kj[d];
            s += pw[N - 1 + j - i] + tw[gr_time_bucket(tq - tsb[j], bucketTable)];
            a = s * gr_sigmoid(s) * invN;
        }
        w[threadIdx.x] = a;
        __syncthreads();
        i64 nk = i - j0 + 1 < (i64)blockDim.x ? i - j0 + 1 : (i64)blockDim.x;
        for (i64 d = threadIdx.x; d < dv; d += blockDim.x) {
            float sum = acc[d];
            for (i64 jj = 0; jj < nk; jj++) sum += w[jj] * v[(base + j0 + jj) * rs + h * dv + d];
            acc[d] = sum;
        }
        __syncthreads();
    }
    for (i64 d = threadIdx.x; d < dv; d += blockDim.x) out[t * H * dv + h * dv + d] = acc[d];
}

// dq (overwritten) and the bias gradients (+=). grid (T, H); shared: dqk + dv + dqk + blockDim floats + 129 floats.
extern "C" __global__ void gr_hstu_bwd_q(const float* dOut, const float* q, const float* k, const float* v, i64 rs,
                                         const int* offsets, i64 batch, const i64* ts, const float* pw, const float* tw,
                                         const u64* bucketTable, i64 H, i64 dqk, i64 dv, i64 N,
                                         float* dq, float* dpw, float* dtw) {
    extern __shared__ float smem[];
    float* qs = smem;
    float* gs = smem + dqk;
    float* acc = smem + dqk + dv;
    float* w = smem + 2 * dqk + dv;
    float* tws = w + blockDim.x;           // 129 partial time-bias gradients
    i64 t = blockIdx.x, h = blockIdx.y;
    i64 b = gr_find_sequence(offsets, batch, t);
    i64 base = offsets[b], i = t - base;
    const i64* tsb = ts + b * N;
    i64 tq = tsb[i + 1 < N ? i + 1 : N - 1];
    float invN = 1.0f / (float)N;
    for (i64 d = threadIdx.x; d < dqk; d += blockDim.x) { qs[d] = q[t * rs + h * dqk + d]; acc[d] = 0.0f; }
    for (i64 d = threadIdx.x; d < dv; d += blockDim.x) gs[d] = dOut[t * H * dv + h * dv + d];
    for (i64 x = threadIdx.x; x < 129; x += blockDim.x) tws[x] = 0.0f;
    __syncthreads();
    for (i64 j0 = 0; j0 <= i; j0 += blockDim.x) {
        i64 j = j0 + threadIdx.x;
        float ds = 0.0f;
        if (j <= i) {
            const float* kj = k + (base + j) * rs + h * dqk;
            const float* vj = v + (base + j) * rs + h * dv;
            float s = 0.0f, da = 0.0f;
            for (i64 d = 0; d < dqk; d++) s += qs[d] * kj[d];
            for (i64 d = 0; d < dv; d++) da += gs[d] * vj[d];
            int bucket = gr_time_bucket(tq - tsb[j], bucketTable);
            s += pw[N - 1 + j - i] + tw[bucket];
            float sg = gr_sigmoid(s);
            ds = da * sg * (1.0f + s * (1.0f - sg)) * invN;
            atomicAdd(dpw + (N - 1 + j - i), ds);
            atomicAdd(tws + bucket, ds);
        }
        w[threadIdx.x] = ds;
        __syncthreads();
        i64 nk = i - j0 + 1 < (i64)blockDim.x ? i - j0 + 1 : (i64)blockDim.x;
        for (i64 d = threadIdx.x; d < dqk; d += blockDim.x) {
            float sum = acc[d];
            for (i64 jj = 0; jj < nk; jj++) sum += w[jj] * k[(base + j0 + jj) * rs + h * dqk + d];
            acc[d] = sum;
        }
        __syncthreads();
    }
    for (i64 d = threadIdx.x; d < dqk; d += blockDim.x) dq[t * rs + h * dqk + d] = acc[d];
    for (i64 x = threadIdx.x; x < 129; x += blockDim.x) if (tws[x] != 0.0f) atomicAdd(dtw + x, tws[x]);
}

// dk, dv (overwritten) for key token t = base + j: queries i = j..L−1. grid (T, H);
// shared: dqk + dv + dqk + dv + 2·blockDim floats.
extern "C" __global__ void gr_hstu_bwd_kv(const float* dOut, const float* q, const float* k, const float* v, i64 rs,
                                          const int* offsets, i64 batch, const i64* ts, const float* pw, const float* tw,
                                          const u64* bucketTable, i64 H, i64 dqk, i64 dv, i64 N, float* dk, float* dV) {
    extern __shared__ float smem[];
    float* ks = smem;
    float* vs = smem + dqk;
    float* accK = smem + dqk + dv;
    float* accV = accK + dqk;
    float* wa = accV + dv;
    float* wd = wa + blockDim.x;
    i64 t = blockIdx.x, h = blockIdx.y;
    i64 b = gr_find_sequence(offsets, batch, t);
    i64 base = offsets[b], j = t - base, L = offsets[b + 1] - base;
    const i64* tsb = ts + b * N;
    i64 tk = tsb[j];
    float invN = 1.0f / (float)N;
    for (i64 d = threadIdx.x; d < dqk; d += blockDim.x) { ks[d] = k[t * rs + h * dqk + d]; accK[d] = 0.0f; }
    for (i64 d = threadIdx.x; d < dv; d += blockDim.x) { vs[d] = v[t * rs + h * dv + d]; accV[d] = 0.0f; }
    __syncthreads();
    for (i64 i0 = j; i0 < L; i0 += blockDim.x) {
        i64 i = i0 + threadIdx.x;
        float a = 0.0f, ds = 0.0f;
        if (i < L) {
            const float* qi = q + (base + i) * rs + h * dqk;
            const float* gi = dOut + (base + i) * H * dv + h * dv;
            float s = 0.0f, da = 0.0f;
            for (i64 d = 0; d < dqk; d++) s += qi[d] * ks[d];
            for (i64 d = 0; d < dv; d++) da += gi[d] * vs[d];
            i64 tq = tsb[i + 1 < N ? i + 1 : N - 1];
            s += pw[N - 1 + j - i] + tw[gr_time_bucket(tq - tk, bucketTable)];
            float sg = gr_sigmoid(s);
            a = s * sg * invN;
            ds = da * sg * (1.0f + s * (1.0f - sg)) * invN;
        }
        wa[threadIdx.x] = a;
        wd[threadIdx.x] = ds;
        __syncthreads();
        i64 nq = L - i0 < (i64)blockDim.x ? L - i0 : (i64)blockDim.x;
        for (i64 d = threadIdx.x; d < dqk; d += blockDim.x) {
            float sum = accK[d];
            for (i64 ii = 0; ii < nq; ii++) sum += wd[ii] * q[(base + i0 + ii) * rs + h * dqk + d];
            accK[d] = sum;
        }
        for (i64 d = threadIdx.x; d < dv; d += blockDim.x) {
            float sum = accV[d];
            for (i64 ii = 0; ii < nq; ii++) sum += wa[ii] * dOut[(base + i0 + ii) * H * dv + h * dv + d];
            accV[d] = sum;
        }
        __syncthreads();
    }
    for (i64 d = threadIdx.x; d < dqk; d += blockDim.x) dk[t * rs + h * dqk + d] = accK[d];
    for (i64 d = threadIdx.x; d < dv; d += blockDim.x) dV[t * rs + h * dv + d] = accV[d];
}

// SASRec causal softmax attention (nn.MultiheadAttention core), padded (B, N); dh = D/H.
// Dropout multiplier of (b, h, i, j): keep/(1−p), keep iff word(((b·H+h)·N+i)·N+j) passes.
__device__ __forceinline__ float gr_attn_mult(i64 b, i64 h, i64 i, i64 j, i64 H, i64 N, u32 threshold, float inv,
                                              u64 seed, u64 stream, i64 dropping) {
    if (!dropping) return 1.0f;
    return gr_keep((u64)(((b * H + h) * N + i) * N + j), seed, stream, threshold) ? inv : 0.0f;
}

// grid (B·N, H): probs (B, H, N, N) overwritten (zeros for j > i); out (B, N, D). shared: dh + N floats.
extern "C" __global__ void gr_softmax_attn_fwd(const float* q, const float* k, const float* v, i64 rs, i64 N, i64 D, i64 H,
                                               float scale, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
                                               float* probs, float* out) {
    extern __shared__ float smem[];
    __shared__ float scratch[32];
    i64 dh = D / H;
    float* qs = smem;
    float* row = smem + dh;
    i64 bi = blockIdx.x, h = blockIdx.y, b = bi / N, i = bi % N;
    for (i64 d = threadIdx.x; d < dh; d += blockDim.x) qs[d] = q[bi * rs + h * dh + d];
    __syncthreads();
    float mx = -GR_INF;
    for (i64 j = threadIdx.x; j <= i; j += blockDim.x) {
        const float* kj = k + (b * N + j) * rs + h * dh;
        float s = 0.0f;
        for (i64 d = 0; d < dh; d++) s += qs[d] * kj[d];
        row[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = gr_block_max(mx, scratch);
    float se = 0.0f;
    for (i64 j = threadIdx.x; j <= i; j += blockDim.x) { float e = expf((row[j] - mx) * scale); row[j] = e; se += e; }
    se = gr_block_sum(se, scratch);
    float* prow = probs + ((b * H + h) * N + i) * N;
    for (i64 j = threadIdx.x; j < N; j += blockDim.x) {
        if (j <= i) {
            float p = row[j] * (1.0f / se);
            prow[j] = p;
            row[j] = p * gr_attn_mult(b, h, i, j, H, N, threshold, inv, seed, stream, dropping);
        } else {
            prow[j] = 0.0f;
        }
    }
    __syncthreads();
    for (i64 d = threadIdx.x; d < dh; d += blockDim.x) {
        float sum = 0.0f;
        for (i64 j = 0; j <= i; j++) sum += row[j] * v[(b * N + j) * rs + h * dh + d];
        out[bi * D + h * dh + d] = sum;
    }
}

// Backward part 1, grid (B·N, H): dz (B, H, N, N) scratch written for j ≤ i, dq overwritten. shared: dh + N floats.
extern "C" __global__ void gr_softmax_attn_bwd_q(const float* dOut, const float* k, const float* v, i64 rs, i64 N, i64 D, i64 H,
                                                 float scale, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
                                                 const float* probs, float* dz, float* dq) {
    extern __shared__ float smem[];
    __shared__ float scratch[32];
    i64 dh = D / H;
    float* gs = smem;
    float* row = smem + dh;
    i64 bi = blockIdx.x, h = blockIdx.y, b = bi / N, i = bi % N;
    for (i64 d = threadIdx.x; d < dh; d += blockDim.x) gs[d] = dOut[bi * D + h * dh + d];
    __syncthreads();
    const float* prow = probs + ((b * H + h) * N + i) * N;
    float rho = 0.0f;
    for (i64 j = threadIdx.x; j <= i; j += blockDim.x) {
        const float* vj = v + (b * N + j) * rs + h * dh;
        float dp = 0.0f;
        for (i64 d = 0; d < dh; d++) dp += gs[d] * vj[d];
        dp *= gr_attn_mult(b, h, i, j, H, N, threshold, inv, seed, stream, dropping);
        row[j] = dp;
        rho += prow[j] * dp;
    }
    rho = gr_block_sum(rho, scratch);
    float* zrow = dz + ((b * H + h) * N + i) * N;
    for (i64 j = threadIdx.x; j <= i; j += blockDim.x) { float z = prow[j] * (row[j] - rho) * scale; row[j] = z; zrow[j] = z; }
    __syncthreads();
    for (i64 d = threadIdx.x; d < dh; d += blockDim.x) {
        float sum = 0.0f;
        for (i64 j = 0; j <= i; j++) sum += row[j] * k[(b * N + j) * rs + h * dh + d];
        dq[bi * rs + h * dh + d] = sum;
    }
}

// Backward part 2, grid (B·N, H) over keys j: dk_j = Σ_{i≥j} dz_ij q_i, dv_j = Σ_{i≥j} p_ij·mult_ij·dO_i (overwritten).
extern "C" __global__ void gr_softmax_attn_bwd_kv(const float* dOut, const float* q, i64 rs, i64 N, i64 D, i64 H,
                                                  u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
                                                  const float* probs, const float* dz, float* dk, float* dV) {
    i64 dh = D / H;
    i64 bj = blockIdx.x, h = blockIdx.y, b = bj / N, j = bj % N;
    for (i64 d = threadIdx.x; d < dh; d += blockDim.x) {
        float sk = 0.0f, sv = 0.0f;
        for (i64 i = j; i < N; i++) {
            i64 idx = ((b * H + h) * N + i) * N + j;
            sk += dz[idx] * q[(b * N + i) * rs + h * dh + d];
            float pm = probs[idx] * gr_attn_mult(b, h, i, j, H, N, threshold, inv, seed, stream, dropping);
            sv += pm * dOut[(b * N + i) * D + h * dh + d];
        }
        dk[bj * rs + h * dh + d] = sk;
        dV[bj * rs + h * dh + d] = sv;
    }
}
