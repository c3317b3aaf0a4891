// LossOps (spec §4.2 sampled softmax, §4.3 BCE), same algebra as GRCPU LossKernels:
// per contribution c = (position p, item id) with g = ∂loss/∂logit, a = g·inv/τ and
// b = [‖E‖ ≥ eps]·a·cos·inv; dq_p += Σ a·E[id], dE[id] += a·q_p − b·E[id].

// out[i] = corpus[⌊word_i · C / 2³²⌋], count ids.
extern "C" __global__ void gr_sample_negatives(const int* corpus, i64 corpusCount, int* out, i64 count, u64 seed, u64 stream) {
    GR_GRID_STRIDE(i, count) {
        u32 w = gr_philox_word((u64)i, seed, stream);
        out[i] = corpus[(i64)(((u64)w * (u64)corpusCount) >> 32)];
    }
}

// inv[v] = 1/max(‖E_v‖, eps), clamped[v] = ‖E_v‖ < eps ? 1 : 0; one warp per row.
extern "C" __global__ void gr_row_inv_norms(const float* table, i64 vocab, i64 dim, float eps, float* inv, float* clamped) {
    i64 row = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= vocab) return;
    float s = 0.0f;
    for (i64 c = lane; c < dim; c += 32) { float v = table[row * dim + c]; s += v * v; }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) {
        float n = sqrtf(s);
        inv[row] = 1.0f / fmaxf(n, eps);
        clamped[row] = n < eps ? 1.0f : 0.0f;
    }
}

// One block per position p; dynamic shared memory: 3·C floats + C ints (C = R + 1).
// losses (P); coefA, coefB (P, C) when wantItemGrad; dq (P, D) += when non-null; cosines (P, C) when non-null.
extern "C" __global__ void gr_ssm_fwd(const float* q, const int* pos, const int* neg, const float* table, const float* inv,
                                      const float* clamped, i64 P, i64 R, i64 D, float invTau, float invP, float collision,
                                      float* losses, float* coefA, float* coefB, float* dq, float* cosines, i64 wantGrad) {
    extern __shared__ float smem[];
    __shared__ float scratch[32];
    i64 C = R + 1;
    float* logit = smem;
    float* cosv = smem + C;
    float* coef = smem + 2 * C;
    int* rowId = (int*)(smem + 3 * C);
    i64 p = blockIdx.x;
    int pid = pos[p];
    const float* qp = q + p * D;
    float mx = -GR_INF;
    for (i64 c = threadIdx.x; c < C; c += blockDim.x) {
        int id = c == 0 ? pid : neg[p * R + c - 1];
        rowId[c] = id;
        const float* e = table + (i64)id * D;
        float d = 0.0f;
        for (i64 k = 0; k < D; k++) d += qp[k] * e[k];
        float cs = d * inv[id];
        cosv[c] = cs;
        float l = (c > 0 && id == pid) ? collision : cs * invTau;
        logit[c] = l;
        mx = fmaxf(mx, l);
        if (cosines) cosines[p * C + c] = cs;
    }
    mx = gr_block_max(mx, scratch);
    float se = 0.0f;
    for (i64 c = threadIdx.x; c < C; c += blockDim.x) se += expf(logit[c] - mx);
    se = gr_block_sum(se, scratch);
    if (threadIdx.x == 0) losses[p] = logf(se) + mx - cosv[0] * invTau;
    if (!wantGrad) return;
    float scale = invP / se;
    for (i64 c = threadIdx.x; c < C; c += blockDim.x) {
        int id = rowId[c];
        float g = (c > 0 && id == pid) ? 0.0f : expf(logit[c] - mx) * scale - (c == 0 ? invP : 0.0f);
        float a = g * inv[id] * invTau;
        coef[c] = a;
        if (coefA) {
            coefA[p * C + c] = a;
            coefB[p * C + c] = clamped[id] != 0.0f ? 0.0f : a * cosv[c] * inv[id];
        }
    }
    __syncthreads();
    if (dq) {
        for (i64 k = threadIdx.x; k < D; k += blockDim.x) {
            float acc = 0.0f;
            for (i64 c = 0; c < C; c++) acc += coef[c] * table[(i64)rowId[c] * D + k];
            dq[p * D + k] += acc;
        }
    }
}

// dE[id_c] += a_c·q_p − b_c·E[id_c] over every (p, c, k); ids from pos (P) and neg (P, R).
extern "C" __global__ void gr_loss_scatter(const float* q, const int* pos, const int* neg, const float* table,
                                           const float* coefA, const float* coefB, float* dE, i64 P, i64 R, i64 D) {
    i64 C = R + 1;
    GR_GRID_STRIDE(i, P * C * D) {
        i64 k = i % D, pc = i / D, p = pc / C, c = pc % C;
        float a = coefA[pc];
        if (a == 0.0f) continue;
        int id = c == 0 ? pos[p] : neg[p * R + c - 1];
        atomicAdd(dE + (i64)id * D + k, a * q[p * D + k] - coefB[pc] * table[(i64)id * D + k]);
    }
}

// The same dE update with the item gradient held in shared memory, one slice of columns per
// block row: grid (blocksPerSlice, ⌈D / S⌉), dynamic shared memory V·S + V floats. Block (x, y)
// owns columns [y·S, y·S + S) of every item and positions p ≡ x (mod gridDim.x); per position a
// warp keeps q_p's slice in registers and its lanes take the C contributions, adding a·q_p into
// acc (V, S) and b into bsum (V) with shared atomics; then acc − bsum·E is added to dE with one
// global atomic per nonzero entry (Σ (a·q − b·E) = Σ a·q − (Σ b)·E: same terms, another order).
// Replaces ≈ P·C·D contended global atomics by ≈ gridDim.x·V·D. Needs P·C < 2³¹ and S ≤ 16.
extern "C" __global__ void gr_loss_scatter_slices(const float* q, const int* pos, const int* neg, const float* table,
                                                  const float* coefA, const float* coefB, float* dE,
                                                  i64 P64, i64 R64, i64 D64, i64 V64, i64 S64) {
    extern __shared__ float smem[];
    int P = (int)P64, R = (int)R64, D = (int)D64, V = (int)V64, S = (int)S64;
    float* acc = smem;             // (V, S)
    float* bsum = smem + V * S;    // (V)
    int k0 = blockIdx.y * S, width = D - k0 < S ? D - k0 : S;
    for (int i = threadIdx.x; i < V * S + V; i += blockDim.x) smem[i] = 0.0f;
    __syncthreads();
    int C = R + 1, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int p = blockIdx.x + gridDim.x * (threadIdx.x >> 5); p < P; p += gridDim.x * warps) {
        float qs[16];
        #pragma unroll
        for (int k = 0; k < 16; k++) qs[k] = k < width ? q[(long long)p * D + k0 + k] : 0.0f;
        // four contributions per lane in flight: their loads first, then the shared adds
        for (int c0 = lane; c0 < C; c0 += 128) {
            float a[4], b[4];
            int id[4];
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                int c = c0 + 32 * j;
                long long pc = (long long)p * C + c;
                a[j] = c < C ? coefA[pc] : 0.0f;
                b[j] = c < C ? coefB[pc] : 0.0f;
                id[j] = c >= C ? 0 : c == 0 ? pos[p] : neg[(long long)p * R + c - 1];
            }
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                if (a[j] == 0.0f) continue;
                float* row = acc + id[j] * S;
                #pragma unroll
                for (int k = 0; k < 16; k++) if (k < width) atomicAdd(row + k, a[j] * qs[k]);
                atomicAdd(bsum + id[j], b[j]);
            }
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < V * width; i += blockDim.x) {
        int id = i / width, k = i - id * width;
        float b = bsum[id], v = acc[id * S + k];
        if (b != 0.0f) v -= b * table[(long long)id * D + k0 + k];
        if (v != 0.0f) atomicAdd(dE + (long long)id * D + k0 + k, v);
    }
}

__device__ __forceinline__ float gr_softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
__device__ __forceinline__ float gr_stable_sigmoid(float x) {
    return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

// BCE (spec §4.3), one thread per position; coefA, coefB (P, 2) as (positive, negative).
extern "C" __global__ void gr_bce_fwd(const float* q, const int* pos, const int* neg, const float* table, i64 P, i64 D,
                                      float invTau, float invW, float eps, float* losses, float* coefA, float* coefB, float* dq) {
    GR_GRID_STRIDE(p, P) {
        const float* qp = q + p * D;
        int pid = pos[p], nid = neg[p];
        float w = nid != pid ? 1.0f : 0.0f;
        const float* ep = table + (i64)pid * D;
        const float* en = table + (i64)nid * D;
        float dp = 0.0f, dn = 0.0f, ss = 0.0f;
        for (i64 k = 0; k < D; k++) { dp += qp[k] * ep[k]; dn += qp[k] * en[k]; ss += en[k] * en[k]; }
        float sPos = dp * invTau;
        float n = sqrtf(ss), iv = 1.0f / fmaxf(n, eps);
        float cosN = dn * iv, sNeg = cosN * invTau;
        losses[p] = w * (gr_softplus(-sPos) + gr_softplus(sNeg)) / 2.0f;
        float gPos = -w * gr_stable_sigmoid(-sPos) / 2.0f * invW, gNeg = w * gr_stable_sigmoid(sNeg) / 2.0f * invW;
        float aPos = gPos * invTau, aNeg = gNeg * iv * invTau;
        if (dq) for (i64 k = 0; k < D; k++) dq[p * D + k] += aPos * ep[k] + aNeg * en[k];
        if (coefA) {
            coefA[2 * p] = aPos; coefB[2 * p] = 0.0f;
            coefA[2 * p + 1] = aNeg; coefB[2 * p + 1] = n < eps ? 0.0f : aNeg * cosN * iv;
        }
    }
}

// out[0] = scale · Σ losses[0..<n] (DeferredLossOps): one block of blockDim = 1024 threads, each
// summing a fixed strided subset in order, then a fixed tree: deterministic run to run (the
// summation order differs from the host's sequential sum, so the last bits may differ from a
// non-deferred loss).
extern "C" __global__ void gr_loss_reduce(const float* losses, i64 n, float scale, float* out) {
    __shared__ float partial[1024];
    float s = 0.0f;
    for (i64 i = threadIdx.x; i < n; i += blockDim.x) s += losses[i];
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) partial[threadIdx.x] += partial[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = scale * partial[0];
}
