// SASRec's causal softmax attention (nn.MultiheadAttention core, AttentionOps.swift's contract) on
// the tensor cores for head dims dh ≤ 64: TF32 mma.sync m16n8k8 with f32 accumulation (the
// reference runs its attention matmuls in TF32, docs/cuda.md "GEMM precision"). Same semantics
// and Philox words as the tiled f32 kernels of AttentionTiled.cu (the fallback where this path is
// off, GR_CUDA_SOFTMAX_MMA=0):
//   p_ij = softmax_j≤i(q_i·k_j·scale), probs (B, H, N, N) = p (zeros for j > i, written for the
//   backward), p'_ij = p_ij·keep_ij/(1 − dropout) with keep from Philox word ((b·H+h)·N+i)·N+j,
//   out_i = Σ_j p'_ij v_j.
//
// Shapes: padded (B, N), D = H·dh, q/k/v rows of stride rs (column block h·dh), dOut/out (B·N, D).
// DP = 8·KS ≥ dh is the head dim padded to the mma's k (KS = 4: dh ≤ 32, KS = 8: dh ≤ 64).
// A CTA of 4 warps takes 64 rows (queries for fwd/bwd_q, keys for bwd_kv), each warp 16 of them;
// the other operand comes in 64-row tiles through shared memory by cp.async ([row][DP + 4] f32
// words, rounded to tf32 where read; the + 4 keeps both fragment patterns free of bank conflicts). Scores stay in registers in
// the mma's C layout (lane: rows g, g + 8, columns 2·tg, 2·tg + 1 of each 8-column tile,
// g = lane / 4, tg = lane % 4); a C tile feeds the next mma as its A operand with the k index
// permuted (A column tg ↔ C column 2·tg, tg + 4 ↔ 2·tg + 1), the B operand's rows read likewise.
//
// Dropout: the keep bits of a 64 × 64 tile are drawn once per tile into shared memory, one
// Philox block per 4 consecutive keys (gr_sm_keep) instead of one per score; nothing of it runs
// when dropping = 0 (evaluation).
//
// Kernels (grid (B·⌈N/64⌉, H), block 128, shared (2·64·(DP + 4) + 128)·4 bytes):
//   fwd:    two passes over the key tiles j0 ≤ i0: row max and sum (online), then p, probs, p'·V.
//   bwd_q:  ρ_i = Σ_j p_ij·keep·dp'_ij (dp' = dO·Vᵀ), then dz_ij = p_ij (dp'_ij·keep − ρ_i)·scale
//           written to the (B, H, N, N) scratch for j ≤ i, dq = dz·K (overwritten).
//   bwd_kv: by key tiles over the query tiles i0 ≥ j0: dk = dzᵀ·Q, dv = p'ᵀ·dO (overwritten).
// The host emulator runs the same code with software mma/cvt (all threads of a block reach every
// mma: the loops are block-uniform).

#define GR_SM_ROWS 64
#define GR_SM_THREADS 128

// ---- TF32 helpers

// f32 → tf32 bits (round to nearest, ties away: cvt.rna).
__device__ __forceinline__ u32 gr_tf32(float x) {
#ifdef __CUDA_ARCH__
    u32 r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#else
    u32 u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;
    return (u + 0x1000u) & 0xffffe000u;
#endif
}

__device__ __forceinline__ float gr_tf32f(float x) { return __int_as_float((int)gr_tf32(x)); }

#ifndef __CUDA_ARCH__
static u32 gr_emu_tf32[1024][6];
#endif

// c (16×8 f32) += a (16×8 tf32, row) · b (8×8 tf32, col). Fragments (PTX ISA): a0 (g, tg),
// a1 (g+8, tg), a2 (g, tg+4), a3 (g+8, tg+4); b0 (k tg, n g), b1 (k tg+4, n g); c0 (g, 2tg),
// c1 (g, 2tg+1), c2 (g+8, 2tg), c3 (g+8, 2tg+1).
__device__ __forceinline__ void gr_mma_tf32(float* c, const u32* a, const u32* b) {
#ifdef __CUDA_ARCH__
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    int t = threadIdx.x, lane = t & 31, w0 = t - lane, g = lane >> 2, tg = lane & 3;
    for (int x = 0; x < 4; x++) gr_emu_tf32[t][x] = a[x];
    gr_emu_tf32[t][4] = b[0]; gr_emu_tf32[t][5] = b[1];
    __syncthreads();
    for (int e = 0; e < 4; e++) {
        int row = g + (e >= 2 ? 8 : 0), col = 2 * tg + (e & 1);
        float sum = 0.0f;
        for (int kx = 0; kx < 8; kx++) {
            u32 ar = gr_emu_tf32[w0 + (row & 7) * 4 + (kx & 3)][(row >= 8 ? 1 : 0) + (kx >= 4 ? 2 : 0)];
            u32 br = gr_emu_tf32[w0 + col * 4 + (kx & 3)][4 + (kx >= 4 ? 1 : 0)];
            sum += __int_as_float((int)ar) * __int_as_float((int)br);
        }
        c[e] += sum;
    }
    __syncthreads();
#endif
}

// ---- tiles and fragments

// 4-byte cp.async global → shared, zero-filled where !ok (src then unread); no registers held,
// so a thread's 16 or 32 copies of a tile are all in flight together. Emulator: a plain copy.
__device__ __forceinline__ void gr_sm_cp4(float* dst, const float* src, bool ok) {
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(gr_smem_addr(dst)), "l"(src), "r"(ok ? 4 : 0));
#else
    *dst = ok ? *src : 0.0f;
#endif
}

// Waits for this thread's cp.async copies (a __syncthreads makes them visible to the block).
__device__ __forceinline__ void gr_sm_wait() {
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// dst[r][c] (stride DP + 4) = src[(rowBase + r0 + r)·rs + col0 + c] (f32; rounded to tf32 where the
// fragments are read) for r < 64, c < DP; zero where r0 + r ≥ limit or c ≥ dh. Asynchronous:
// gr_sm_wait, then __syncthreads, before the tile is read.
template <int KS>
__device__ __forceinline__ void gr_sm_load(float* dst, const float* src, i64 rs, i64 col0, i64 dh, i64 rowBase, i64 r0,
                                           i64 limit) {
    constexpr int DP = 8 * KS, LD = DP + 4;
    #pragma unroll 4
    for (int x = threadIdx.x; x < GR_SM_ROWS * DP; x += GR_SM_THREADS) {
        int r = x / DP, c = x - r * DP;
        bool ok = r0 + r < limit && c < dh;
        gr_sm_cp4(dst + r * LD + c, ok ? src + (rowBase + r0 + r) * rs + col0 + c : src, ok);
    }
}

// pv = the warp's 16 × 64 tile (C layout: rows i0 + rw (+8), columns j0 + 8·nt + 2·tg (+1)) of
// the (N, N) matrix M where j ≤ i < N, else 0: the loads are issued together, ahead of the mma.
__device__ __forceinline__ void gr_sm_rows(float (&pv)[8][4], const float* M, i64 N, i64 i0, i64 j0, int rw) {
    int tg = threadIdx.x & 3;
    #pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            i64 i = i0 + rw + 8 * (e >> 1), j = j0 + 8 * nt + 2 * tg + (e & 1);
            pv[nt][e] = j <= i && i < N ? M[i * N + j] : 0.0f;
        }
    }
}

// A fragments (rows r, r + 8 with r = r0 + g; columns 8·ks + tg (+4)) straight from global memory.
template <int KS>
__device__ __forceinline__ void gr_sm_afrag(u32 (&a)[KS][4], const float* src, i64 rs, i64 col0, i64 dh, i64 rowBase,
                                            i64 r, i64 limit) {
    int tg = threadIdx.x & 3;
    #pragma unroll
    for (int ks = 0; ks < KS; ks++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            i64 row = r + (e & 1 ? 8 : 0);
            int col = 8 * ks + tg + (e & 2 ? 4 : 0);
            a[ks][e] = gr_tf32(row < limit && col < dh ? src[(rowBase + row) * rs + col0 + col] : 0.0f);
        }
    }
}

// s[nt] = A (16 × DP) · B[8·nt .. 8·nt + 7]ᵀ for the 64-row shared tile B ([row][DP + 4]): a warp's
// 16 × 64 block of scores in C layout.
template <int KS>
__device__ __forceinline__ void gr_sm_scores(float (&s)[8][4], const u32 (&a)[KS][4], const float* Bs) {
    constexpr int LD = 8 * KS + 4;
    int lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
    #pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
        const float* row = Bs + (8 * nt + g) * LD + tg;
        #pragma unroll
        for (int ks = 0; ks < KS; ks++) {
            u32 b[2] = {gr_tf32(row[8 * ks]), gr_tf32(row[8 * ks + 4])};
            gr_mma_tf32(s[nt], a[ks], b);
        }
    }
}

// acc (16 × DP, C layout) += P (16 × 64, C layout, f32) · M (64-row shared tile [row][DP + 4]):
// P's C tile kk is the A operand of k-step kk with the permuted k index (C column 2·tg ↔ k tg,
// 2·tg + 1 ↔ k tg + 4), so B's k rows are M rows 8·kk + 2·tg and 8·kk + 2·tg + 1.
template <int KS>
__device__ __forceinline__ void gr_sm_accumulate(float (&acc)[KS][4], const float (&p)[8][4], const float* Ms) {
    constexpr int LD = 8 * KS + 4;
    int lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
    #pragma unroll
    for (int kk = 0; kk < 8; kk++) {
        u32 a[4] = {gr_tf32(p[kk][0]), gr_tf32(p[kk][2]), gr_tf32(p[kk][1]), gr_tf32(p[kk][3])};
        const float* r0 = Ms + (8 * kk + 2 * tg) * LD + g;
        #pragma unroll
        for (int nt = 0; nt < KS; nt++) {
            u32 b[2] = {gr_tf32(r0[8 * nt]), gr_tf32(r0[LD + 8 * nt])};
            gr_mma_tf32(acc[nt], a, b);
        }
    }
}

// dst[(rowBase + row)·rs + col0 + col] = acc for the warp's rows r, r + 8 (r = r0 + g) < limit and
// columns 8·nt + 2·tg (+1) < dh.
template <int KS>
__device__ __forceinline__ void gr_sm_store(float* dst, i64 rs, i64 col0, i64 dh, i64 rowBase, i64 r, i64 limit,
                                            const float (&acc)[KS][4]) {
    int tg = threadIdx.x & 3;
    #pragma unroll
    for (int nt = 0; nt < KS; nt++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            i64 row = r + (e >= 2 ? 8 : 0);
            int col = 8 * nt + 2 * tg + (e & 1);
            if (row < limit && col < dh) dst[(rowBase + row) * rs + col0 + col] = acc[nt][e];
        }
    }
}

// Keep bits of the 64 × 64 tile (queries i0 + r, keys j0 + c): bit c % 32 of mask[2·r + c / 32],
// set iff j ≤ i < N and Philox word ((b·H+h)·N+i)·N+j passes (gr_keep); bhN = (b·H + h)·N. One
// word (32 keys of one query) per thread, one Philox block per 4 consecutive indices.
__device__ __forceinline__ void gr_sm_keep(u32* mask, i64 bhN, i64 N, i64 i0, i64 j0, u32 threshold, u64 seed,
                                           u64 stream) {
    int t = threadIdx.x;
    i64 i = i0 + (t >> 1), jb = j0 + 32 * (t & 1);
    u32 word = 0;
    if (i < N && jb <= i) {
        i64 x0 = (bhN + i) * N + jb, x1 = (bhN + i) * N + (i < jb + 31 ? i : jb + 31);
        for (i64 blk = x0 >> 2; blk <= x1 >> 2; blk++) {
            uint4 w = gr_philox_block((u64)blk, seed, stream);
            u32 ws[4] = {w.x, w.y, w.z, w.w};
            #pragma unroll
            for (int u = 0; u < 4; u++) {
                i64 x = 4 * blk + u;
                if (x >= x0 && x <= x1 && (ws[u] >> 8) >= threshold) word |= 1u << (int)(x - x0);
            }
        }
    }
    mask[t] = word;
}

__device__ __forceinline__ float gr_sm_mult(const u32* mask, int r, int c, float inv) {
    return (mask[2 * r + (c >> 5)] >> (c & 31)) & 1u ? inv : 0.0f;
}

// ---- kernels

template <int KS>
__device__ __forceinline__ void gr_sm_fwd(const float* q, const float* k, const float* v, i64 rs, i64 N, i64 D, i64 H,
                                          float scale, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
                                          float* probs, float* out) {
    constexpr int LD = 8 * KS + 4;
    extern __shared__ float smem[];
    float* Ks = smem;
    float* Vs = Ks + GR_SM_ROWS * LD;
    u32* mask = (u32*)(Vs + GR_SM_ROWS * LD);
    i64 dh = D / H, tiles = (N + GR_SM_ROWS - 1) / GR_SM_ROWS;
    i64 b = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * GR_SM_ROWS, h = blockIdx.y, bhN = (b * H + h) * N;
    int lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3, rw = 16 * (threadIdx.x >> 5) + g;   // rw, rw + 8: rows
    float* P = probs + bhN * N;
    const float sl = scale * 1.4426950408889634f;   // exp(x·scale) = exp2(x·sl)
    u32 qa[KS][4];
    gr_sm_afrag<KS>(qa, q, rs, h * dh, dh, b * N, i0 + rw, N);
    float m[2] = {-GR_INF, -GR_INF}, l[2] = {0.0f, 0.0f};
    for (i64 j0 = 0; j0 <= i0; j0 += GR_SM_ROWS) {
        __syncthreads();
        gr_sm_load<KS>(Ks, k, rs, h * dh, dh, b * N, j0, N);
        gr_sm_wait();
        __syncthreads();
        float s[8][4];
        gr_sm_scores<KS>(s, qa, Ks);
        #pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            i64 i = i0 + rw + 8 * hf;
            float mx = -GR_INF;
            #pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                #pragma unroll
                for (int u = 0; u < 2; u++) if (j0 + 8 * nt + 2 * tg + u <= i) mx = fmaxf(mx, s[nt][2 * hf + u] * sl);
            }
            if (mx == -GR_INF) continue;
            float mn = fmaxf(m[hf], mx), sum = 0.0f;
            #pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                #pragma unroll
                for (int u = 0; u < 2; u++) if (j0 + 8 * nt + 2 * tg + u <= i) sum += exp2f(s[nt][2 * hf + u] * sl - mn);
            }
            l[hf] = l[hf] * exp2f(m[hf] - mn) + sum;
            m[hf] = mn;
        }
    }
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {   // the 4 lanes of a row (tg) hold parts of its max and sum
        float mr = fmaxf(m[hf], __shfl_xor_sync(0xffffffffu, m[hf], 1));
        mr = fmaxf(mr, __shfl_xor_sync(0xffffffffu, mr, 2));
        float lr = m[hf] == -GR_INF ? 0.0f : l[hf] * exp2f(m[hf] - mr);
        lr += __shfl_xor_sync(0xffffffffu, lr, 1);
        lr += __shfl_xor_sync(0xffffffffu, lr, 2);
        m[hf] = mr;
        l[hf] = lr > 0.0f ? 1.0f / lr : 0.0f;
    }
    float o[KS][4];
    #pragma unroll
    for (int nt = 0; nt < KS; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
    for (i64 j0 = 0; j0 < N; j0 += GR_SM_ROWS) {
        if (j0 > i0) {   // above the diagonal: zeros
            for (int x = threadIdx.x; x < GR_SM_ROWS * GR_SM_ROWS; x += GR_SM_THREADS) {
                i64 i = i0 + (x >> 6), j = j0 + (x & 63);
                if (i < N && j < N) P[i * N + j] = 0.0f;
            }
            continue;
        }
        __syncthreads();
        gr_sm_load<KS>(Ks, k, rs, h * dh, dh, b * N, j0, N);
        gr_sm_load<KS>(Vs, v, rs, h * dh, dh, b * N, j0, N);
        if (dropping) gr_sm_keep(mask, bhN, N, i0, j0, threshold, seed, stream);
        gr_sm_wait();
        __syncthreads();
        float s[8][4];
        gr_sm_scores<KS>(s, qa, Ks);
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                int hf = e >> 1, r = rw + 8 * hf, c = 8 * nt + 2 * tg + (e & 1);
                i64 i = i0 + r, j = j0 + c;
                float p = j <= i ? exp2f(s[nt][e] * sl - m[hf]) * l[hf] : 0.0f;
                if (i < N && j < N) P[i * N + j] = p;
                if (dropping) p *= gr_sm_mult(mask, r, c, inv);
                s[nt][e] = p;
            }
        }
        gr_sm_accumulate<KS>(o, s, Vs);
    }
    gr_sm_store<KS>(out, D, h * dh, dh, b * N, i0 + rw, N, o);
}

template <int KS>
__device__ __forceinline__ void gr_sm_bwd_q(const float* dOut, const float* k, const float* v, i64 rs, i64 N, i64 D,
                                            i64 H, float scale, u32 threshold, float inv, u64 seed, u64 stream,
                                            i64 dropping, const float* probs, float* dz, float* dq) {
    constexpr int LD = 8 * KS + 4;
    extern __shared__ float smem[];
    float* Ks = smem;
    float* Vs = Ks + GR_SM_ROWS * LD;
    u32* mask = (u32*)(Vs + GR_SM_ROWS * LD);
    i64 dh = D / H, tiles = (N + GR_SM_ROWS - 1) / GR_SM_ROWS;
    i64 b = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * GR_SM_ROWS, h = blockIdx.y, bhN = (b * H + h) * N;
    int lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3, rw = 16 * (threadIdx.x >> 5) + g;
    const float* P = probs + bhN * N;
    float* Z = dz + bhN * N;
    u32 ga[KS][4];
    gr_sm_afrag<KS>(ga, dOut, D, h * dh, dh, b * N, i0 + rw, N);
    float rho[2] = {0.0f, 0.0f};
    for (i64 j0 = 0; j0 <= i0; j0 += GR_SM_ROWS) {   // ρ
        __syncthreads();
        gr_sm_load<KS>(Vs, v, rs, h * dh, dh, b * N, j0, N);
        if (dropping) gr_sm_keep(mask, bhN, N, i0, j0, threshold, seed, stream);
        float pv[8][4];
        gr_sm_rows(pv, P, N, i0, j0, rw);
        gr_sm_wait();
        __syncthreads();
        float s[8][4];
        gr_sm_scores<KS>(s, ga, Vs);
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                int hf = e >> 1, r = rw + 8 * hf, c = 8 * nt + 2 * tg + (e & 1);
                float d = dropping ? s[nt][e] * gr_sm_mult(mask, r, c, inv) : s[nt][e];
                rho[hf] += pv[nt][e] * d;   // pv = 0 where masked
            }
        }
    }
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        rho[hf] += __shfl_xor_sync(0xffffffffu, rho[hf], 1);
        rho[hf] += __shfl_xor_sync(0xffffffffu, rho[hf], 2);
    }
    float acc[KS][4];
    #pragma unroll
    for (int nt = 0; nt < KS; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
    for (i64 j0 = 0; j0 <= i0; j0 += GR_SM_ROWS) {   // dz, dq
        __syncthreads();
        gr_sm_load<KS>(Ks, k, rs, h * dh, dh, b * N, j0, N);
        gr_sm_load<KS>(Vs, v, rs, h * dh, dh, b * N, j0, N);
        if (dropping) gr_sm_keep(mask, bhN, N, i0, j0, threshold, seed, stream);
        float pv[8][4];
        gr_sm_rows(pv, P, N, i0, j0, rw);
        gr_sm_wait();
        __syncthreads();
        float s[8][4];
        gr_sm_scores<KS>(s, ga, Vs);
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                int hf = e >> 1, r = rw + 8 * hf, c = 8 * nt + 2 * tg + (e & 1);
                i64 i = i0 + r, j = j0 + c;
                float z = 0.0f;
                if (j <= i && i < N) {
                    float d = dropping ? s[nt][e] * gr_sm_mult(mask, r, c, inv) : s[nt][e];
                    z = pv[nt][e] * (d - rho[hf]) * scale;
                    Z[i * N + j] = z;
                }
                s[nt][e] = z;
            }
        }
        gr_sm_accumulate<KS>(acc, s, Ks);
    }
    gr_sm_store<KS>(dq, rs, h * dh, dh, b * N, i0 + rw, N, acc);
}

template <int KS>
__device__ __forceinline__ void gr_sm_bwd_kv(const float* dOut, const float* q, i64 rs, i64 N, i64 D, i64 H,
                                             u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
                                             const float* probs, const float* dz, float* dk, float* dV) {
    constexpr int LD = 8 * KS + 4;
    extern __shared__ float smem[];
    float* Qs = smem;
    float* Gs = Qs + GR_SM_ROWS * LD;
    u32* mask = (u32*)(Gs + GR_SM_ROWS * LD);
    i64 dh = D / H, tiles = (N + GR_SM_ROWS - 1) / GR_SM_ROWS;
    i64 b = blockIdx.x / tiles, j0 = (blockIdx.x % tiles) * GR_SM_ROWS, h = blockIdx.y, bhN = (b * H + h) * N;
    int lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3, cw = 16 * (threadIdx.x >> 5) + g;   // cw, cw + 8: keys
    const float* P = probs + bhN * N;
    const float* Z = dz + bhN * N;
    float accK[KS][4], accV[KS][4];
    #pragma unroll
    for (int nt = 0; nt < KS; nt++) {
        accK[nt][0] = accK[nt][1] = accK[nt][2] = accK[nt][3] = 0.0f;
        accV[nt][0] = accV[nt][1] = accV[nt][2] = accV[nt][3] = 0.0f;
    }
    for (i64 i0 = j0; i0 < N; i0 += GR_SM_ROWS) {
        __syncthreads();
        gr_sm_load<KS>(Qs, q, rs, h * dh, dh, b * N, i0, N);
        gr_sm_load<KS>(Gs, dOut, D, h * dh, dh, b * N, i0, N);
        if (dropping) gr_sm_keep(mask, bhN, N, i0, j0, threshold, seed, stream);
        gr_sm_wait();
        __syncthreads();
        // the warp's 16 keys × 64 queries of dzᵀ (then p'ᵀ) in C layout: rows keys, columns queries
        float t[8][4], pt[8][4];   // dzᵀ and p'ᵀ, loaded together (64 loads in flight) before the mma
        #pragma unroll
        for (int kk = 0; kk < 8; kk++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                int c = cw + 8 * (e >> 1), r = 8 * kk + 2 * tg + (e & 1);
                i64 i = i0 + r, j = j0 + c;
                bool ok = j <= i && i < N;
                t[kk][e] = ok ? Z[i * N + j] : 0.0f;
                pt[kk][e] = ok ? P[i * N + j] : 0.0f;
            }
        }
        gr_sm_accumulate<KS>(accK, t, Qs);
        if (dropping) {
            #pragma unroll
            for (int kk = 0; kk < 8; kk++) {
                #pragma unroll
                for (int e = 0; e < 4; e++) pt[kk][e] *= gr_sm_mult(mask, 8 * kk + 2 * tg + (e & 1), cw + 8 * (e >> 1), inv);
            }
        }
        gr_sm_accumulate<KS>(accV, pt, Gs);
    }
    gr_sm_store<KS>(dk, rs, h * dh, dh, b * N, j0 + cw, N, accK);
    gr_sm_store<KS>(dV, rs, h * dh, dh, b * N, j0 + cw, N, accV);
}

// Instances (written out: the emulator's generator reads plain signatures): _k4 for dh ≤ 32, _k8 for
// dh ≤ 64 (CUDABackend.softmaxMMASteps).
extern "C" __global__ __launch_bounds__(128) void gr_sasrec_attn_fwd_mma_k4(const float* q, const float* k, const float* v, i64 rs,
        i64 N, i64 D, i64 H, float scale, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping, float* probs,
        float* out) {
    gr_sm_fwd<4>(q, k, v, rs, N, D, H, scale, threshold, inv, seed, stream, dropping, probs, out);
}
extern "C" __global__ __launch_bounds__(128) void gr_sasrec_attn_bwd_q_mma_k4(const float* dOut, const float* k, const float* v,
        i64 rs, i64 N, i64 D, i64 H, float scale, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
        const float* probs, float* dz, float* dq) {
    gr_sm_bwd_q<4>(dOut, k, v, rs, N, D, H, scale, threshold, inv, seed, stream, dropping, probs, dz, dq);
}
extern "C" __global__ __launch_bounds__(128) void gr_sasrec_attn_bwd_kv_mma_k4(const float* dOut, const float* q, i64 rs, i64 N,
        i64 D, i64 H, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping, const float* probs, const float* dz,
        float* dk, float* dV) {
    gr_sm_bwd_kv<4>(dOut, q, rs, N, D, H, threshold, inv, seed, stream, dropping, probs, dz, dk, dV);
}
extern "C" __global__ __launch_bounds__(128) void gr_sasrec_attn_fwd_mma_k8(const float* q, const float* k, const float* v, i64 rs,
        i64 N, i64 D, i64 H, float scale, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping, float* probs,
        float* out) {
    gr_sm_fwd<8>(q, k, v, rs, N, D, H, scale, threshold, inv, seed, stream, dropping, probs, out);
}
extern "C" __global__ __launch_bounds__(128) void gr_sasrec_attn_bwd_q_mma_k8(const float* dOut, const float* k, const float* v,
        i64 rs, i64 N, i64 D, i64 H, float scale, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping,
        const float* probs, float* dz, float* dq) {
    gr_sm_bwd_q<8>(dOut, k, v, rs, N, D, H, scale, threshold, inv, seed, stream, dropping, probs, dz, dq);
}
extern "C" __global__ __launch_bounds__(128) void gr_sasrec_attn_bwd_kv_mma_k8(const float* dOut, const float* q, i64 rs, i64 N,
        i64 D, i64 H, u32 threshold, float inv, u64 seed, u64 stream, i64 dropping, const float* probs, const float* dz,
        float* dk, float* dV) {
    gr_sm_bwd_kv<8>(dOut, q, rs, N, D, H, threshold, inv, seed, stream, dropping, probs, dz, dk, dV);
}
