// Tiled f32 attention for small head dims (dqk, dv, dh ≤ GR_AT_MAXD = 64; the ML presets use 25
// and 50): one CTA of 128 threads per (sequence, query or key tile of GR_AT_TILE = 32 rows, head),
// the Q/K/V/dO tiles in shared memory (row stride odd, so column reads are conflict-free), each
// thread a 4 × 2 register block of scores (rows ty + 8a, columns tx + 16c with tx = tid % 16,
// ty = tid / 16) and a 4 × 4 block of the 32 × d output (rows ty + 8a, features tx + 16e).
// Key tiles above the causal diagonal are skipped. Same semantics as the simple kernels of
// Attention.cu (which stay the fallback for larger head dims or widths whose tiles do not fit):
//
// HSTU (spec §2.2-2.3): s_ij = q_i·k_j + wPos[N−1+j−i] + wTs[bucket(T'[b, i+1] − T[b, j])],
//   a_ij = SiLU(s_ij)/N for j ≤ i < L_b; the bias gradients are reduced per CTA in shared memory
//   (position by diagonal offset, time by bucket) and added with one global atomic per entry.
//   Backward: dq by query-tile CTAs (gr_hstu_bwd_q_tiled), dk/dv and the bias gradients by
//   key-tile CTAs (gr_hstu_bwd_kv_tiled); s is recomputed, nothing N×N is stored.
// SASRec (nn.MultiheadAttention core): p_ij = softmax_j≤i(q_i·k_j·scale), the probs (B, H, N, N)
//   written as before (the backward and the parity check read them), dropout multiplier from the
//   same Philox word ((b·H+h)·N+i)·N+j as gr_attn_mult.

#define GR_AT_TILE 32
#define GR_AT_MAXD 64

// Loads rows r0.. r0+31 (row r valid iff r < limit) of a (rows, stride rs) matrix's columns
// col0 .. col0+d−1 into dst (32 × ld); invalid rows are zero.
__device__ __forceinline__ void gr_at_load(float* dst, int ld, const float* src, i64 rs, i64 col0, int d,
                                           i64 rowBase, i64 r0, i64 limit) {
    for (int x = threadIdx.x; x < GR_AT_TILE * d; x += blockDim.x) {
        int r = x / d, c = x - r * d;
        dst[r * ld + c] = r0 + r < limit ? src[(rowBase + r0 + r) * rs + col0 + c] : 0.0f;
    }
}

// s[a][c] = Σ_d A[ty + 8a][d] · B[tx + 16c][d] over two 32 × d shared tiles (row stride ld).
__device__ __forceinline__ void gr_at_scores(float s[4][2], const float* A, const float* Bm, int ld, int d) {
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    #pragma unroll
    for (int a = 0; a < 4; a++) { s[a][0] = 0.0f; s[a][1] = 0.0f; }
    for (int x = 0; x < d; x++) {
        float b0 = Bm[tx * ld + x], b1 = Bm[(tx + 16) * ld + x];
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            float av = A[(ty + 8 * a) * ld + x];
            s[a][0] += av * b0;
            s[a][1] += av * b1;
        }
    }
}

// acc[a][e] += Σ_k P[row][k] · M[k][tx + 16e] where row = ty + 8a (transposed: P[k][row]) for
// the 32 × 32 shared tile P (stride GR_AT_TILE + 1) and the 32 × d tile M (stride ld); columns ≥ d skipped.
__device__ __forceinline__ void gr_at_accumulate(float acc[4][4], const float* P, bool transposed, const float* M,
                                                 int ld, int d, int nk) {
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int ps = GR_AT_TILE + 1;
    for (int kk = 0; kk < nk; kk++) {
        float p[4];
        #pragma unroll
        for (int a = 0; a < 4; a++) p[a] = transposed ? P[kk * ps + ty + 8 * a] : P[(ty + 8 * a) * ps + kk];
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            if (tx + 16 * e < d) {
                float m = M[kk * ld + tx + 16 * e];
                #pragma unroll
                for (int a = 0; a < 4; a++) acc[a][e] += p[a] * m;
            }
        }
    }
}

// dst[(rowBase + r0 + row) · rs + col0 + tx + 16e] = acc[a][e] for rows < limit, columns < d.
__device__ __forceinline__ void gr_at_store(float* dst, i64 rs, i64 col0, i64 d, i64 rowBase, i64 r0, i64 limit,
                                            float acc[4][4]) {
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    #pragma unroll
    for (int a = 0; a < 4; a++) {
        i64 r = ty + 8 * a;
        if (r0 + r >= limit) continue;
        #pragma unroll
        for (int e = 0; e < 4; e++) if (tx + 16 * e < d) dst[(rowBase + r0 + r) * rs + col0 + tx + 16 * e] = acc[a][e];
    }
}

__device__ __forceinline__ void gr_at_zero(float acc[4][4]) {
    #pragma unroll
    for (int a = 0; a < 4; a++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) acc[a][e] = 0.0f;
    }
}

// Shared layout of the HSTU kernels, in floats: 64 i64 timestamps (key tile, then query tile T'),
// then the 32-row tiles.
#define GR_AT_TS_FLOATS 128

// HSTU tiles: the query timestamps T'[b, min(i+1, N−1)] and key timestamps T[b, j] of a tile.
__device__ __forceinline__ void gr_at_load_ts(i64* dst, const i64* tsb, i64 r0, i64 L, i64 N, bool query) {
    for (i64 r = threadIdx.x; r < GR_AT_TILE; r += blockDim.x) {
        i64 i = r0 + r;
        dst[r] = i < L ? tsb[query ? (i + 1 < N ? i + 1 : N - 1) : i] : 0;
    }
}

// grid (B·⌈N/32⌉, H), block 128; out (T, H·dv) overwritten. shared: 128 + 32·(2·sq + sv + 33) floats,
// sq = dqk | 1, sv = dv | 1.
extern "C" __global__ void gr_hstu_fwd_tiled(const float* q, const float* k, const float* v, i64 rs, const int* offsets,
                                             i64 batch, const i64* ts, const float* pw, const float* tw,
                                             const u64* bucketTable, i64 H, i64 dqk, i64 dv, i64 N, float* out) {
    extern __shared__ float smem[];
    i64 tiles = (N + GR_AT_TILE - 1) / GR_AT_TILE;
    i64 b = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * GR_AT_TILE, h = blockIdx.y;
    i64 base = offsets[b], L = offsets[b + 1] - base;
    if (i0 >= L) return;
    i64 sq = dqk | 1, sv = dv | 1;
    i64* tsK = (i64*)smem;
    i64* tsQ = tsK + GR_AT_TILE;
    float* Qs = smem + GR_AT_TS_FLOATS;
    float* Ks = Qs + GR_AT_TILE * sq;
    float* Vs = Ks + GR_AT_TILE * sq;
    float* Ps = Vs + GR_AT_TILE * sv;
    const i64* tsb = ts + b * N;
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    float invN = 1.0f / (float)N;
    gr_at_load(Qs, sq, q, rs, h * dqk, dqk, base, i0, L);
    gr_at_load_ts(tsQ, tsb, i0, L, N, true);
    float acc[4][4];
    gr_at_zero(acc);
    for (i64 j0 = 0; j0 <= i0 && j0 < L; j0 += GR_AT_TILE) {
        __syncthreads();
        gr_at_load(Ks, sq, k, rs, h * dqk, dqk, base, j0, L);
        gr_at_load(Vs, sv, v, rs, h * dv, dv, base, j0, L);
        gr_at_load_ts(tsK, tsb, j0, L, N, false);
        __syncthreads();
        float s[4][2];
        gr_at_scores(s, Qs, Ks, sq, dqk);
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 r = ty + 8 * a, col = tx + 16 * c, i = i0 + r, j = j0 + col;
                float val = 0.0f;
                if (j <= i && i < L) {
                    float x = s[a][c] + pw[N - 1 + j - i] + tw[gr_time_bucket(tsQ[r] - tsK[col], bucketTable)];
                    val = x * gr_sigmoid(x) * invN;
                }
                Ps[r * (GR_AT_TILE + 1) + col] = val;
            }
        }
        __syncthreads();
        i64 nk = L - j0 < GR_AT_TILE ? L - j0 : GR_AT_TILE;
        gr_at_accumulate(acc, Ps, false, Vs, sv, dv, nk);
    }
    gr_at_store(out, H * dv, h * dv, dv, base, i0, L, acc);
}

// dq (overwritten) by query tiles: dq_i = Σ_j ds_ij k_j, ds_ij = (dO_i·v_j) SiLU'(s_ij)/N.
// grid (B·⌈N/32⌉, H), block 128. shared: 128 + 32·(2·sq + 2·sv + 33) floats.
extern "C" __global__ void gr_hstu_bwd_q_tiled(const float* dOut, const float* q, const float* k, const float* v, i64 rs,
                                               const int* offsets, i64 batch, const i64* ts, const float* pw,
                                               const float* tw, const u64* bucketTable, i64 H, i64 dqk, i64 dv, i64 N,
                                               float* dq) {
    extern __shared__ float smem[];
    i64 tiles = (N + GR_AT_TILE - 1) / GR_AT_TILE;
    i64 b = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * GR_AT_TILE, h = blockIdx.y;
    i64 base = offsets[b], L = offsets[b + 1] - base;
    if (i0 >= L) return;
    i64 sq = dqk | 1, sv = dv | 1;
    i64* tsK = (i64*)smem;
    i64* tsQ = tsK + GR_AT_TILE;
    float* Qs = smem + GR_AT_TS_FLOATS;
    float* Ks = Qs + GR_AT_TILE * sq;
    float* Gs = Ks + GR_AT_TILE * sq;
    float* Vs = Gs + GR_AT_TILE * sv;
    float* Ps = Vs + GR_AT_TILE * sv;
    const i64* tsb = ts + b * N;
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    float invN = 1.0f / (float)N;
    gr_at_load(Qs, sq, q, rs, h * dqk, dqk, base, i0, L);
    gr_at_load(Gs, sv, dOut, H * dv, h * dv, dv, base, i0, L);
    gr_at_load_ts(tsQ, tsb, i0, L, N, true);
    float acc[4][4];
    gr_at_zero(acc);
    for (i64 j0 = 0; j0 <= i0 && j0 < L; j0 += GR_AT_TILE) {
        __syncthreads();
        gr_at_load(Ks, sq, k, rs, h * dqk, dqk, base, j0, L);
        gr_at_load(Vs, sv, v, rs, h * dv, dv, base, j0, L);
        gr_at_load_ts(tsK, tsb, j0, L, N, false);
        __syncthreads();
        float s[4][2], da[4][2];
        gr_at_scores(s, Qs, Ks, sq, dqk);
        gr_at_scores(da, Gs, Vs, sv, dv);
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 r = ty + 8 * a, col = tx + 16 * c, i = i0 + r, j = j0 + col;
                float ds = 0.0f;
                if (j <= i && i < L) {
                    float x = s[a][c] + pw[N - 1 + j - i] + tw[gr_time_bucket(tsQ[r] - tsK[col], bucketTable)];
                    float sg = gr_sigmoid(x);
                    ds = da[a][c] * sg * (1.0f + x * (1.0f - sg)) * invN;
                }
                Ps[r * (GR_AT_TILE + 1) + col] = ds;
            }
        }
        __syncthreads();
        i64 nk = L - j0 < GR_AT_TILE ? L - j0 : GR_AT_TILE;
        gr_at_accumulate(acc, Ps, false, Ks, sq, dqk, nk);
    }
    gr_at_store(dq, rs, h * dqk, dqk, base, i0, L, acc);
}

// dk, dv (overwritten) by key tiles j0..j0+31 over the query tiles i0 ≥ j0, and the bias gradients
// (+=): dk_j = Σ_i ds_ij q_i, dv_j = Σ_i a_ij dO_i. grid (B·⌈N/32⌉, H), block 128.
// shared: 128 + 32·(2·sq + 2·sv + 66) + 132 + N + 32 floats.
extern "C" __global__ void gr_hstu_bwd_kv_tiled(const float* dOut, const float* q, const float* k, const float* v, i64 rs,
                                                const int* offsets, i64 batch, const i64* ts, const float* pw,
                                                const float* tw, const u64* bucketTable, i64 H, i64 dqk, i64 dv, i64 N,
                                                float* dk, float* dV, float* dpw, float* dtw) {
    extern __shared__ float smem[];
    const i64 ps = GR_AT_TILE + 1;
    i64 tiles = (N + GR_AT_TILE - 1) / GR_AT_TILE;
    i64 b = blockIdx.x / tiles, j0 = (blockIdx.x % tiles) * GR_AT_TILE, h = blockIdx.y;
    i64 base = offsets[b], L = offsets[b + 1] - base;
    if (j0 >= L) return;
    i64 sq = dqk | 1, sv = dv | 1;
    i64* tsK = (i64*)smem;
    i64* tsQ = tsK + GR_AT_TILE;
    float* Ks = smem + GR_AT_TS_FLOATS;
    float* Qs = Ks + GR_AT_TILE * sq;
    float* Vs = Qs + GR_AT_TILE * sq;
    float* Gs = Vs + GR_AT_TILE * sv;
    float* As = Gs + GR_AT_TILE * sv;
    float* Ds = As + GR_AT_TILE * ps;
    float* twS = Ds + GR_AT_TILE * ps;           // 129 time-bucket gradients (132 reserved)
    float* pwS = twS + 132;                      // by o = i − j + 31, o ∈ [0, L − 1 − j0 + 31]
    const i64* tsb = ts + b * N;
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    float invN = 1.0f / (float)N;
    i64 nOff = L - j0 + GR_AT_TILE - 1;
    for (i64 x = threadIdx.x; x < 132; x += blockDim.x) twS[x] = 0.0f;
    for (i64 x = threadIdx.x; x < nOff; x += blockDim.x) pwS[x] = 0.0f;
    gr_at_load(Ks, sq, k, rs, h * dqk, dqk, base, j0, L);
    gr_at_load(Vs, sv, v, rs, h * dv, dv, base, j0, L);
    gr_at_load_ts(tsK, tsb, j0, L, N, false);
    float accK[4][4], accV[4][4];
    gr_at_zero(accK);
    gr_at_zero(accV);
    for (i64 i0 = j0; i0 < L; i0 += GR_AT_TILE) {
        __syncthreads();
        gr_at_load(Qs, sq, q, rs, h * dqk, dqk, base, i0, L);
        gr_at_load(Gs, sv, dOut, H * dv, h * dv, dv, base, i0, L);
        gr_at_load_ts(tsQ, tsb, i0, L, N, true);
        __syncthreads();
        float s[4][2], da[4][2];
        gr_at_scores(s, Qs, Ks, sq, dqk);
        gr_at_scores(da, Gs, Vs, sv, dv);
        int bk[8];
        float gk[8];
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 r = ty + 8 * a, col = tx + 16 * c, i = i0 + r, j = j0 + col;
                float av = 0.0f, ds = 0.0f;
                int bucket = -1;
                if (j <= i && i < L) {
                    bucket = gr_time_bucket(tsQ[r] - tsK[col], bucketTable);
                    float x = s[a][c] + pw[N - 1 + j - i] + tw[bucket];
                    float sg = gr_sigmoid(x);
                    av = x * sg * invN;
                    ds = da[a][c] * sg * (1.0f + x * (1.0f - sg)) * invN;
                }
                bk[2 * a + c] = bucket;
                gk[2 * a + c] = ds;
                As[r * ps + col] = av;
                Ds[r * ps + col] = ds;
            }
        }
        // time gradient: where every unmasked lane of the warp has the same bucket (the common
        // case: nearby timestamps), one warp sum and one shared atomic; otherwise one per lane.
        #pragma unroll
        for (int e = 0; e < 8; e++) {
            int hi = bk[e], lo = bk[e] < 0 ? 0x7fffffff : bk[e];
            float g = gk[e];
            for (int o = 16; o > 0; o >>= 1) {
                int h2 = __shfl_xor_sync(0xffffffffu, hi, o), l2 = __shfl_xor_sync(0xffffffffu, lo, o);
                hi = h2 > hi ? h2 : hi;
                lo = l2 < lo ? l2 : lo;
                g += __shfl_xor_sync(0xffffffffu, g, o);
            }
            if (hi < 0) continue;
            if (hi == lo) {
                if ((threadIdx.x & 31) == 0) atomicAdd(twS + hi, g);
            } else if (bk[e] >= 0) {
                atomicAdd(twS + bk[e], gk[e]);
            }
        }
        __syncthreads();
        // position gradient: diagonal o = r − col of this tile pair (−31..31), one thread each
        if (threadIdx.x < 2 * GR_AT_TILE - 1) {
            i64 o = (i64)threadIdx.x - (GR_AT_TILE - 1);
            float sum = 0.0f;
            for (i64 r = o > 0 ? o : 0; r < GR_AT_TILE && r - o < GR_AT_TILE; r++) sum += Ds[r * ps + (r - o)];
            i64 slot = i0 - j0 + o + GR_AT_TILE - 1;
            if (slot >= 0 && slot < nOff) pwS[slot] += sum;
        }
        i64 nq = L - i0 < GR_AT_TILE ? L - i0 : GR_AT_TILE;
        gr_at_accumulate(accK, Ds, true, Qs, sq, dqk, nq);
        gr_at_accumulate(accV, As, true, Gs, sv, dv, nq);
    }
    gr_at_store(dk, rs, h * dqk, dqk, base, j0, L, accK);
    gr_at_store(dV, rs, h * dv, dv, base, j0, L, accV);
    __syncthreads();
    for (i64 x = threadIdx.x; x < nOff; x += blockDim.x) {
        float g = pwS[x];
        if (g != 0.0f) atomicAdd(dpw + N - 1 - (x - (GR_AT_TILE - 1)), g);
    }
    for (i64 x = threadIdx.x; x < 129; x += blockDim.x) if (twS[x] != 0.0f) atomicAdd(dtw + x, twS[x]);
}

// ---- SASRec causal softmax attention, padded (B, N), dh = D/H ≤ 64.

// Reduces over the 16 lanes that share a score row (tid / 16): the max or the sum.
__device__ __forceinline__ float gr_at_row_max(float x) {
    for (int o = 8; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ float gr_at_row_sum(float x) {
    for (int o = 8; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

// grid (B·⌈N/32⌉, H), block 128: probs (B, H, N, N) overwritten (zeros for j > i), out (B, N, D).
// Two passes over the key tiles j0 ≤ i0: the row max and sum (online), then p, probs and p·mult·V.
// keepRows = 1: the raw scores of the tile's 32 rows stay in shared memory (32 × (N+1), each
// entry written and read by one thread), so QKᵀ is computed once and the V tile takes the K
// tile's room (for widths where that fits: N ≈ 200 at dh = 50); keepRows = 0: pass 2 recomputes
// QKᵀ. shared: 32·(2·sh + 33 + N + 1) floats with keepRows, else 32·(3·sh + 33); sh = dh | 1.
extern "C" __global__ void gr_softmax_attn_fwd_tiled(const float* q, const float* k, const float* v, i64 rs, i64 N, i64 D,
                                                     i64 H, float scale, u32 threshold, float inv, u64 seed, u64 stream,
                                                     i64 dropping, float* probs, float* out, i64 keepRows) {
    extern __shared__ float smem[];
    const i64 ps = GR_AT_TILE + 1;
    i64 dh = D / H, sh = dh | 1, ss = N + 1;
    i64 tiles = (N + GR_AT_TILE - 1) / GR_AT_TILE;
    i64 b = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * GR_AT_TILE, h = blockIdx.y;
    float* Qs = smem;
    float* Ks = Qs + GR_AT_TILE * sh;
    float* Vs = keepRows ? Ks : Ks + GR_AT_TILE * sh;
    float* Ps = Vs + GR_AT_TILE * sh;
    float* Ss = Ps + GR_AT_TILE * ps;     // keepRows only
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    gr_at_load(Qs, sh, q, rs, h * dh, dh, b * N, i0, N);
    float m[4], l[4];
    #pragma unroll
    for (int a = 0; a < 4; a++) { m[a] = -GR_INF; l[a] = 0.0f; }
    for (i64 j0 = 0; j0 <= i0; j0 += GR_AT_TILE) {
        __syncthreads();
        gr_at_load(Ks, sh, k, rs, h * dh, dh, b * N, j0, N);
        __syncthreads();
        float s[4][2];
        gr_at_scores(s, Qs, Ks, sh, dh);
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 r = ty + 8 * a, i = i0 + r, j = j0 + tx + 16 * c;
                if (keepRows && j < N) Ss[r * ss + j] = s[a][c];
                if (j <= i && j < N) {
                    float mn = fmaxf(m[a], s[a][c]);
                    l[a] = l[a] * expf((m[a] - mn) * scale) + expf((s[a][c] - mn) * scale);
                    m[a] = mn;
                }
            }
        }
    }
    #pragma unroll
    for (int a = 0; a < 4; a++) {
        float mr = gr_at_row_max(m[a]);
        float lr = gr_at_row_sum(m[a] == -GR_INF ? 0.0f : l[a] * expf((m[a] - mr) * scale));
        m[a] = mr;
        l[a] = 1.0f / lr;
    }
    float acc[4][4];
    gr_at_zero(acc);
    for (i64 j0 = 0; j0 < N; j0 += GR_AT_TILE) {
        if (j0 > i0) {   // above the diagonal: zeros
            for (i64 x = threadIdx.x; x < GR_AT_TILE * GR_AT_TILE; x += blockDim.x) {
                i64 i = i0 + x / GR_AT_TILE, j = j0 + x % GR_AT_TILE;
                if (i < N && j < N) probs[((b * H + h) * N + i) * N + j] = 0.0f;
            }
            continue;
        }
        __syncthreads();
        if (!keepRows) gr_at_load(Ks, sh, k, rs, h * dh, dh, b * N, j0, N);
        gr_at_load(Vs, sh, v, rs, h * dh, dh, b * N, j0, N);
        __syncthreads();
        float s[4][2];
        if (!keepRows) gr_at_scores(s, Qs, Ks, sh, dh);
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 r = ty + 8 * a, col = tx + 16 * c, i = i0 + r, j = j0 + col;
                float pm = 0.0f;
                if (i < N && j < N) {
                    float x = keepRows ? Ss[r * ss + j] : s[a][c];
                    float p = j <= i ? expf((x - m[a]) * scale) * l[a] : 0.0f;
                    probs[((b * H + h) * N + i) * N + j] = p;
                    if (j <= i) pm = p * gr_attn_mult(b, h, i, j, H, N, threshold, inv, seed, stream, dropping);
                }
                Ps[r * ps + col] = pm;
            }
        }
        __syncthreads();
        i64 nk = N - j0 < GR_AT_TILE ? N - j0 : GR_AT_TILE;
        gr_at_accumulate(acc, Ps, false, Vs, sh, dh, nk);
    }
    gr_at_store(out, D, h * dh, dh, b * N, i0, N, acc);
}

// Backward part 1 by query tiles: dz (B, H, N, N) scratch written for j ≤ i (first dp = dO·v·mult,
// then dz = p (dp − ρ) scale with ρ_i = Σ_j p_ij dp_ij), dq overwritten. grid (B·⌈N/32⌉, H), block 128.
// shared: 32·(2·sh + 33) floats.
extern "C" __global__ void gr_softmax_attn_bwd_q_tiled(const float* dOut, const float* k, const float* v, i64 rs, i64 N,
                                                       i64 D, i64 H, float scale, u32 threshold, float inv, u64 seed,
                                                       u64 stream, i64 dropping, const float* probs, float* dz, float* dq) {
    extern __shared__ float smem[];
    const i64 ps = GR_AT_TILE + 1;
    i64 dh = D / H, sh = dh | 1;
    i64 tiles = (N + GR_AT_TILE - 1) / GR_AT_TILE;
    i64 b = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * GR_AT_TILE, h = blockIdx.y;
    float* Gs = smem;
    float* Ks = Gs + GR_AT_TILE * sh;
    float* Ps = Ks + GR_AT_TILE * sh;
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const float* prow = probs + (b * H + h) * N * N;
    float* zrow = dz + (b * H + h) * N * N;
    gr_at_load(Gs, sh, dOut, D, h * dh, dh, b * N, i0, N);
    float rho[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (i64 j0 = 0; j0 <= i0; j0 += GR_AT_TILE) {
        __syncthreads();
        gr_at_load(Ks, sh, v, rs, h * dh, dh, b * N, j0, N);   // V tile in the K room
        __syncthreads();
        float dp[4][2];
        gr_at_scores(dp, Gs, Ks, sh, dh);
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 i = i0 + ty + 8 * a, j = j0 + tx + 16 * c;
                if (j <= i && i < N) {
                    float d = dp[a][c] * gr_attn_mult(b, h, i, j, H, N, threshold, inv, seed, stream, dropping);
                    zrow[i * N + j] = d;
                    rho[a] += prow[i * N + j] * d;
                }
            }
        }
    }
    #pragma unroll
    for (int a = 0; a < 4; a++) rho[a] = gr_at_row_sum(rho[a]);
    float acc[4][4];
    gr_at_zero(acc);
    for (i64 j0 = 0; j0 <= i0; j0 += GR_AT_TILE) {
        __syncthreads();
        gr_at_load(Ks, sh, k, rs, h * dh, dh, b * N, j0, N);
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 r = ty + 8 * a, col = tx + 16 * c, i = i0 + r, j = j0 + col;
                float z = 0.0f;
                if (j <= i && i < N) {
                    z = prow[i * N + j] * (zrow[i * N + j] - rho[a]) * scale;
                    zrow[i * N + j] = z;
                }
                Ps[r * ps + col] = z;
            }
        }
        __syncthreads();
        i64 nk = N - j0 < GR_AT_TILE ? N - j0 : GR_AT_TILE;
        gr_at_accumulate(acc, Ps, false, Ks, sh, dh, nk);
    }
    gr_at_store(dq, rs, h * dh, dh, b * N, i0, N, acc);
}

// Backward part 2 by key tiles: dk_j = Σ_{i≥j} dz_ij q_i, dv_j = Σ_{i≥j} p_ij·mult_ij·dO_i (overwritten).
// grid (B·⌈N/32⌉, H), block 128. shared: 32·(2·sh + 66) floats.
extern "C" __global__ void gr_softmax_attn_bwd_kv_tiled(const float* dOut, const float* q, i64 rs, i64 N, i64 D, i64 H,
                                                        u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
                                                        const float* probs, const float* dz, float* dk, float* dV) {
    extern __shared__ float smem[];
    const i64 ps = GR_AT_TILE + 1;
    i64 dh = D / H, sh = dh | 1;
    i64 tiles = (N + GR_AT_TILE - 1) / GR_AT_TILE;
    i64 b = blockIdx.x / tiles, j0 = (blockIdx.x % tiles) * GR_AT_TILE, h = blockIdx.y;
    float* Qs = smem;
    float* Gs = Qs + GR_AT_TILE * sh;
    float* Zs = Gs + GR_AT_TILE * sh;
    float* As = Zs + GR_AT_TILE * ps;
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const float* prow = probs + (b * H + h) * N * N;
    const float* zrow = dz + (b * H + h) * N * N;
    float accK[4][4], accV[4][4];
    gr_at_zero(accK);
    gr_at_zero(accV);
    for (i64 i0 = j0; i0 < N; i0 += GR_AT_TILE) {
        __syncthreads();
        gr_at_load(Qs, sh, q, rs, h * dh, dh, b * N, i0, N);
        gr_at_load(Gs, sh, dOut, D, h * dh, dh, b * N, i0, N);
        #pragma unroll
        for (int a = 0; a < 4; a++) {
            #pragma unroll
            for (int c = 0; c < 2; c++) {
                i64 r = ty + 8 * a, col = tx + 16 * c, i = i0 + r, j = j0 + col;
                float z = 0.0f, pm = 0.0f;
                if (j <= i && i < N) {
                    z = zrow[i * N + j];
                    pm = prow[i * N + j] * gr_attn_mult(b, h, i, j, H, N, threshold, inv, seed, stream, dropping);
                }
                Zs[r * ps + col] = z;
                As[r * ps + col] = pm;
            }
        }
        __syncthreads();
        i64 nq = N - i0 < GR_AT_TILE ? N - i0 : GR_AT_TILE;
        gr_at_accumulate(accK, Zs, true, Qs, sh, dh, nq);
        gr_at_accumulate(accV, As, true, Gs, sh, dh, nq);
    }
    gr_at_store(dk, rs, h * dh, dh, b * N, j0, N, accK);
    gr_at_store(dV, rs, h * dh, dh, b * N, j0, N, accV);
}
