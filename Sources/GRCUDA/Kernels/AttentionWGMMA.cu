// HSTU attention forward on Hopper's warpgroup MMA (issue #5 item 3): `wgmma.mma_async` for
// S = Q Kᵀ and O += P V at head dim 128 (padded), bf16 operands, f32 accumulation. The same work
// items, score math (gr_tc_fwd_scores), masks, bias and output as gr_hstu_tc_fwd_d128
// (AttentionMMA.cu, whose helpers this file uses: it comes after it in the module). It needs
// sm_90a (NVRTC `--gpu-architecture=sm_90a`, CUDAContext.compileArch); elsewhere the entry point
// exists but is empty and the backend never selects it (CUDABackend.attentionForwardWGMMA).
//
// One warpgroup (4 warps, 128 threads) per CTA owns 64 queries; key tiles of 64. Warp w owns query
// rows 16w ..< 16w + 16: wgmma's m64nN accumulator fragment is, per warp, mma.sync's m16n8 C
// fragment repeated N/8 times, and its A-from-registers fragment (m64k16) is the m16n8k16 A
// fragment, so gr_tc_fwd_scores and gr_tc_afrag serve unchanged.
//
// Shared tiles: [64 rows][128] bf16 (16 KB, 1024-byte aligned) as two halves of 64 columns
// (128 bytes a row): half c at byte 8192·c, row r at 128·r, its 16-byte chunk x at 16·(x ^ (r & 7))
// — the 128-byte swizzle (address bits 4–6 ^= bits 7–9), descriptor mode 1, base offset 0.
//   Q, K (K-major A and B of Q Kᵀ, imm-trans 0): k-step kk (columns 16kk ..< 16kk + 16) starts at
//     tile + 8192·(kk / 4) + 32·(kk % 4); SBO = 1024 (the next 8 rows); LBO unused (1).
//   V (B of P V, N-major: imm-trans-b = 1): the same tile layout; k-step kk (keys 16kk ..) starts
//     at tile + 2048·kk; LBO = 8192 (the next 64 columns of N), SBO = 1024 (the next 8 keys).
// Shared tiles are filled by cp.async (generic proxy): every thread waits for its copies, fences
// them to the async proxy (fence.proxy.async) and the CTA syncs before the tile's wgmma.
//
// Without __CUDA_ARCH__ (the host emulator, scripts/cuda-emulator) the wgmma instructions call the
// emulator's versions (emu_wgmma.h, written from the PTX ISA, not from this file), so that the
// kernel's layouts, descriptors and synchronisation are checked without a GPU (docs/cuda.md).

#define GR_WG_TILE_BYTES (64 * 128 * 2)
// Shared bytes: alignment slack, Q, K[2], V[2], key timestamps [2][64], position windows [2][128],
// wTs [132], the bucket table [256], table32 [64].
#define GR_WG_FWD_SMEM (1024 + 5 * GR_WG_TILE_BYTES + 2 * 64 * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 64 * 16)

// GR_WG_MODE (diagnostics, set in a GR_CUDA_KERNEL_DIR copy): 1 computes S by mma.sync, 2 O by
// mma.sync (ldmatrix from the same tiles), so that a wrong layout shows which product it breaks.
#ifndef GR_WG_MODE
#define GR_WG_MODE 0
#endif
// GR_WG_PIPE 1: S of the next key tile overlaps this tile's scores (see the kernel).
#ifndef GR_WG_PIPE
#define GR_WG_PIPE 0
#endif
// V's descriptor offsets (N-major, 128-byte swizzle): LBO the next 64 columns, SBO the next 8 keys.
#ifndef GR_WG_V_LBO
#define GR_WG_V_LBO 8192
#define GR_WG_V_SBO 1024
#endif

#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
// Byte offset of (row, 16-byte chunk) in a wgmma tile (ldmatrix addresses of the diagnostic modes).
__device__ __forceinline__ u32 gr_wg_off(int row, int chunk) {
    return (u32)(chunk >> 3) * 8192u + (u32)row * 128u + (u32)(((chunk & 7) ^ (row & 7)) << 4);
}

// A wgmma matrix descriptor: shared byte address, leading / stride byte offsets, 128-byte swizzle.
__device__ __forceinline__ u64 gr_wg_desc(u32 addr, u32 lbo, u32 sbo) {
    return (u64)((addr & 0x3ffffu) >> 4) | ((u64)((lbo & 0x3ffffu) >> 4) << 16) | ((u64)((sbo & 0x3ffffu) >> 4) << 32)
           | (1ull << 62);
}

#ifdef __CUDA_ARCH__
__device__ __forceinline__ void gr_wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void gr_wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void gr_wg_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }
__device__ __forceinline__ void gr_wg_proxy_fence() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
#else
inline void gr_wg_fence() { emu_wgmma_fence(); }
inline void gr_wg_commit() { emu_wgmma_commit(); }
inline void gr_wg_wait0() { emu_wgmma_wait(0); }
inline void gr_wg_proxy_fence() { emu_fence_proxy_async(); }
#endif

// Keeps the compiler from moving accesses of the accumulator registers across the async window.
template <int R>
__device__ __forceinline__ void gr_wg_keep(float (&a)[R][4]) {
    #pragma unroll
    for (int r = 0; r < R; r++)
        #pragma unroll
        for (int e = 0; e < 4; e++) {
#ifdef __CUDA_ARCH__
            asm volatile("" : "+f"(a[r][e]) :: "memory");
#else
            (void)a;
#endif
        }
}

// s (64 × 64 f32, the warpgroup's fragments) += A (64 × 16, descriptor da) · B (16 × 64, db), both K-major.
__device__ __forceinline__ void gr_wg_qk(float (&s)[8][4], u64 da, u64 db) {
#ifndef __CUDA_ARCH__
    emu_wgmma(64, &s[0][0], da, nullptr, db, true, 1, 1, 0, 0);   // scale-d 1, scale-a/b 1, trans-a/b 0
#else
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(s[0][0]), "+f"(s[0][1]), "+f"(s[0][2]), "+f"(s[0][3]), "+f"(s[1][0]), "+f"(s[1][1]), "+f"(s[1][2]), "+f"(s[1][3]),
                   "+f"(s[2][0]), "+f"(s[2][1]), "+f"(s[2][2]), "+f"(s[2][3]), "+f"(s[3][0]), "+f"(s[3][1]), "+f"(s[3][2]), "+f"(s[3][3]),
                   "+f"(s[4][0]), "+f"(s[4][1]), "+f"(s[4][2]), "+f"(s[4][3]), "+f"(s[5][0]), "+f"(s[5][1]), "+f"(s[5][2]), "+f"(s[5][3]),
                   "+f"(s[6][0]), "+f"(s[6][1]), "+f"(s[6][2]), "+f"(s[6][3]), "+f"(s[7][0]), "+f"(s[7][1]), "+f"(s[7][2]), "+f"(s[7][3])
                 : "l"(da), "l"(db), "r"(1));
#endif
}

// o (64 × 128 f32) += A (64 × 16 bf16 from registers, gr_tc_afrag) · B (16 × 128, descriptor db, N-major).
__device__ __forceinline__ void gr_wg_pv(float (&o)[16][4], const u32 (&a)[4], u64 db) {
#ifndef __CUDA_ARCH__
    emu_wgmma(128, &o[0][0], 0, a, db, true, 1, 1, 0, 1);   // scale-d 1, scale-a/b 1, trans-b 1
#else
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, 1, 1, 1;\n}\n"
                 : "+f"(o[0][0]), "+f"(o[0][1]), "+f"(o[0][2]), "+f"(o[0][3]), "+f"(o[1][0]), "+f"(o[1][1]), "+f"(o[1][2]), "+f"(o[1][3]),
                   "+f"(o[2][0]), "+f"(o[2][1]), "+f"(o[2][2]), "+f"(o[2][3]), "+f"(o[3][0]), "+f"(o[3][1]), "+f"(o[3][2]), "+f"(o[3][3]),
                   "+f"(o[4][0]), "+f"(o[4][1]), "+f"(o[4][2]), "+f"(o[4][3]), "+f"(o[5][0]), "+f"(o[5][1]), "+f"(o[5][2]), "+f"(o[5][3]),
                   "+f"(o[6][0]), "+f"(o[6][1]), "+f"(o[6][2]), "+f"(o[6][3]), "+f"(o[7][0]), "+f"(o[7][1]), "+f"(o[7][2]), "+f"(o[7][3]),
                   "+f"(o[8][0]), "+f"(o[8][1]), "+f"(o[8][2]), "+f"(o[8][3]), "+f"(o[9][0]), "+f"(o[9][1]), "+f"(o[9][2]), "+f"(o[9][3]),
                   "+f"(o[10][0]), "+f"(o[10][1]), "+f"(o[10][2]), "+f"(o[10][3]), "+f"(o[11][0]), "+f"(o[11][1]), "+f"(o[11][2]), "+f"(o[11][3]),
                   "+f"(o[12][0]), "+f"(o[12][1]), "+f"(o[12][2]), "+f"(o[12][3]), "+f"(o[13][0]), "+f"(o[13][1]), "+f"(o[13][2]), "+f"(o[13][3]),
                   "+f"(o[14][0]), "+f"(o[14][1]), "+f"(o[14][2]), "+f"(o[14][3]), "+f"(o[15][0]), "+f"(o[15][1]), "+f"(o[15][2]), "+f"(o[15][3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
#endif
}

// Rows [row0, row0 + 64) of one sequence's packed [rows][128] slab into a wgmma tile at shared
// address `tile`; rows ≥ rowEnd are zero-filled. Thread t copies chunk t % 16 of rows t / 16 + 8p
// (p < 8): rows 8 apart share the swizzle, so the destination is one base plus 1024·p.
__device__ __forceinline__ void gr_wg_load_tile(u32 tile, const u16* src, i64 row0, i64 rowEnd) {
    const int t = (int)threadIdx.x, ch = t & 15, r0 = t >> 4;
    const u32 d = tile + (u32)(ch >> 3) * 8192u + (u32)r0 * 128u + (u32)(((ch & 7) ^ r0) << 4);
    const u16* s = src + (row0 + r0) * 128 + ch * 8;
    if (rowEnd - row0 >= 64) {   // block-uniform
        #pragma unroll
        for (int p = 0; p < 8; p++) gr_cp_async16_full(d + 1024u * p, nullptr, s + 1024 * p);
        return;
    }
    const i64 left64 = rowEnd - row0 - r0;
    const int left = left64 < 0 ? 0 : left64 > 64 ? 64 : (int)left64;
    #pragma unroll
    for (int p = 0; p < 8; p++) {
        const bool valid = 8 * p < left;
        gr_cp_async16_at(d + 1024u * p, nullptr, valid ? s + 1024 * p : src, valid);
    }
}
#endif

// grid (query items, H), block 128, dynamic shared GR_WG_FWD_SMEM: gr_hstu_tc_fwd_d128's
// contract (items, flags, out (T, H·dv) overwritten at the block's rows, columns h·dv ..).
extern "C" __global__ __launch_bounds__(128, 2) void gr_hstu_wg_fwd_d128(const u16* qb, const u16* kb, const u16* vb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dv, i64 N, i64 targets, i64 ctx, float* out) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
    constexpr int DP = 128;
    extern __shared__ float smem[];
    const u32 raw = gr_smem_addr(smem), pad = ((raw + 1023u) & ~1023u) - raw;
    char* base = (char*)smem + pad;
    const u32 sQa = raw + pad, sKa = sQa + GR_WG_TILE_BYTES, sVa = sKa + 2 * GR_WG_TILE_BYTES;
    i64* tsK = (i64*)(base + 5 * GR_WG_TILE_BYTES);   // [2][64]
    float* pwS = (float*)(tsK + 2 * 64);              // [2][128]
    float* twS = pwS + 256;                           // [132]
    u64* tableS = (u64*)(twS + 132);                  // [256]
    uint4* t32 = (uint4*)(tableS + 256);              // [64]

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, tg = lane & 3;
    const GrTcItem it = gr_tc_item(items, offsets, flags, targets);
    const i64 b = it.b, sb = it.base, L = it.L, hist = it.hist, h = blockIdx.y;
    const bool fast = it.fast;
    const i64 i0 = it.block * 64;
    i64 kEnd = i0 + 64 < L ? i0 + 64 : L;
    if (ctx > 0 && i0 < ctx && hist > kEnd) kEnd = hist;
    const int tiles = (int)((kEnd + 63) / 64);
    const u16* qh = qb + h * T * DP + sb * DP;
    const u16* kh = kb + h * T * DP + sb * DP;
    const u16* vh = vb + h * T * DP + sb * DP;
    const i64* tsb = ts + b * N;
    const float invN = 1.0f / (float)N;

    __shared__ GrTcCells2 cells2;   // read after the loop's first barrier
    GrTcCells2* cells = &cells2;
    gr_tc_build_cells2(cells, table32, tw, 0.5f);   // wTs/2 (gr_tc_fwd_scores)
    gr_tc_load_bias_tables(tableS, t32, twS, table, table32, tw);
    gr_wg_load_tile(sQa, qh, i0, L);
    gr_wg_load_tile(sKa, kh, 0, L);
    if (GR_WG_PIPE) {   // Q, K[0] first (S of tile 0 is computed before the loop), then V[0] and K[1]
        gr_cp_async_commit();
        if (tiles > 1) gr_wg_load_tile(sKa + GR_WG_TILE_BYTES, kh, 64, L);
    }
    gr_wg_load_tile(sVa, vh, 0, L);
    gr_tc_load_key_ts(tsK, tsb, 0, L);
    gr_tc_load_pos(pwS, pw, i0, 0, N);
    gr_cp_async_commit();

    // this lane's two query rows: i0 + 16·warp + g (+ 8)
    i64 rowI[2], tq[2];
    #pragma unroll
    for (int x = 0; x < 2; x++) {
        rowI[x] = i0 + 16 * warp + g + 8 * x;
        const i64 nx = rowI[x] + 1 < N ? rowI[x] + 1 : N - 1;
        tq[x] = rowI[x] < L ? tsb[nx] : 0;
    }
    const u32 t0 = (u32)tsb[0];
    GrTcSpan qspan;
    {
        const int a0 = (int)((u32)tq[0] - t0), a1 = (int)((u32)tq[1] - t0);
        qspan = gr_tc_span_reduce({a0 < a1 ? a0 : a1, a0 < a1 ? a1 : a0}, 4, 16);
    }
    float o[16][4];
    #pragma unroll
    for (int n = 0; n < 16; n++) for (int e = 0; e < 4; e++) o[n][e] = 0.0f;

    // S = Q Kᵀ of the key tile in K's buffer at Ka, issued (8 k-steps of 16 columns; committed, not waited for)
    auto issueQK = [&](float (&sc)[8][4], u32 Ka) {
        #pragma unroll
        for (int n = 0; n < 8; n++) for (int e = 0; e < 4; e++) sc[n][e] = 0.0f;
        gr_wg_keep(sc);
        gr_wg_fence();
        #pragma unroll
        for (int kk = 0; kk < 8; kk++) {
            const u32 off = (u32)(kk >> 2) * 8192u + (u32)(kk & 3) * 32u;
            gr_wg_qk(sc, gr_wg_desc(sQa + off, 16, 1024), gr_wg_desc(Ka + off, 16, 1024));
        }
        gr_wg_commit();
    };
    // S (diagnostic mode 1) by mma.sync
    auto mmaQK = [&](float (&sc)[8][4], u32 Ka) {
        #pragma unroll
        for (int n = 0; n < 8; n++) for (int e = 0; e < 4; e++) sc[n][e] = 0.0f;
        #pragma unroll
        for (int kk = 0; kk < 8; kk++) {
            u32 qa[4];
            gr_ldmatrix_shared<false>(qa, sQa + gr_wg_off(16 * warp + (lane & 15), 2 * kk + (lane >> 4)));
            #pragma unroll
            for (int np = 0; np < 4; np++) {
                u32 r[4];
                gr_ldmatrix_shared<false>(r, Ka + gr_wg_off((lane & 7) + ((lane >> 4) << 3) + 16 * np, 2 * kk + ((lane >> 3) & 1)));
                gr_mma(sc[2 * np], qa, r);
                gr_mma(sc[2 * np + 1], qa, r + 2);
            }
        }
    };
    // s ← a (the bias, SiLU, the mask) for key tile kt (buffer buf: timestamps, position window)
    auto scores = [&](float (&sc)[8][4], int kt, int buf) {
        const i64 j0 = (i64)kt * 64;
        const bool full = gr_hstu_tile_full(i0, j0, L, hist, ctx);
        const i64* tk = tsK + buf * 64;
        const float* pws = pwS + buf * 128;
        int ub = -1;
        u32 theta = 0xffffffffu;
        if (fast && full) {   // block-uniform (the shuffles)
            const u32* tk32 = (const u32*)tk;   // low words
            const int c0 = (int)(tk32[2 * lane] - t0), c1 = (int)(tk32[2 * (lane + 32)] - t0);
            const GrTcSpan kspan = gr_tc_span_reduce({c0 < c1 ? c0 : c1, c0 < c1 ? c1 : c0}, 1, 16);
            ub = gr_tc_uniform_bucket(qspan, kspan, t32, theta);
        }
        float da[8][4];   // (the dQ kernel's; unused here)
        if (ub >= 0) gr_tc_fwd_scores<true, false, true>(sc, da, full, rowI, tq, j0, L, hist, ctx, tk, pws, twS, tableS, cells, invN, warp, g, tg, ub, theta);
        else if (fast) gr_tc_fwd_scores<true, false, false>(sc, da, full, rowI, tq, j0, L, hist, ctx, tk, pws, twS, tableS, cells, invN, warp, g, tg, ub, theta);
        else gr_tc_fwd_scores<false, false, false>(sc, da, full, rowI, tq, j0, L, hist, ctx, tk, pws, twS, tableS, cells, invN, warp, g, tg, ub, theta);
    };
    // O += P V for the tile in V's buffer at Va (4 k-steps of 16 keys, P from registers); issued
    // and committed (mode 2: by mma.sync)
    auto issuePV = [&](const float (&sc)[8][4], u32 Va) {
        u32 pa[4][4];
        #pragma unroll
        for (int kk = 0; kk < 4; kk++) gr_tc_afrag<8>(pa[kk], sc, kk);
        if (GR_WG_MODE == 2) {
            #pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                #pragma unroll
                for (int dp = 0; dp < 8; dp++) {
                    u32 r[4];
                    gr_ldmatrix_shared<true>(r, Va + gr_wg_off((lane & 7) + ((lane >> 3) & 1) * 8 + 16 * kk, 2 * dp + (lane >> 4)));
                    gr_mma(o[2 * dp], pa[kk], r);
                    gr_mma(o[2 * dp + 1], pa[kk], r + 2);
                }
            }
            return;
        }
        gr_wg_keep(o);
        gr_wg_fence();
        #pragma unroll
        for (int kk = 0; kk < 4; kk++) gr_wg_pv(o, pa[kk], gr_wg_desc(Va + 2048u * kk, GR_WG_V_LBO, GR_WG_V_SBO));
        gr_wg_commit();
    };

#if GR_WG_PIPE
    // Pipelined (FlashAttention-3's intra-warpgroup overlap): S of tile kt + 1 runs on the tensor
    // cores while the threads compute tile kt's scores. Invariant at the top of tile kt: s holds
    // S of tile kt; V[kt] (with tile kt's timestamps and position window) and K[kt + 1] are loading.
    // K[kt] lives in K buffer kt % 2, V[kt] in V buffer kt % 2.
    float s[8][4];
    gr_cp_async_wait<1>();   // Q, K[0]
    gr_wg_proxy_fence();
    __syncthreads();
    if (GR_WG_MODE == 1) mmaQK(s, sKa);
    else {
        issueQK(s, sKa);
        gr_wg_wait0();
        gr_wg_keep(s);
    }
    for (int kt = 0; kt < tiles; kt++) {
        const int buf = kt & 1;
        gr_cp_async_wait<0>();   // V[kt], K[kt + 1]
        gr_wg_proxy_fence();
        __syncthreads();         // every warp is done with tile kt − 1 (S[kt] read K buffer buf, P V[kt − 1] V buffer buf ^ 1)
        if (kt + 2 < tiles) gr_wg_load_tile(sKa + buf * GR_WG_TILE_BYTES, kh, (i64)(kt + 2) * 64, L);
        if (kt + 1 < tiles) {
            const i64 jn = (i64)(kt + 1) * 64;
            gr_wg_load_tile(sVa + (buf ^ 1) * GR_WG_TILE_BYTES, vh, jn, L);
            gr_tc_load_key_ts(tsK + (buf ^ 1) * 64, tsb, jn, L);
            gr_tc_load_pos(pwS + (buf ^ 1) * 128, pw, i0, jn, N);
        }
        gr_cp_async_commit();   // possibly empty
        float sn[8][4];
        if (kt + 1 < tiles) {   // block-uniform
            if (GR_WG_MODE == 1) mmaQK(sn, sKa + (buf ^ 1) * GR_WG_TILE_BYTES);
            else issueQK(sn, sKa + (buf ^ 1) * GR_WG_TILE_BYTES);
        }
        scores(s, kt, buf);
        issuePV(s, sVa + buf * GR_WG_TILE_BYTES);
        gr_wg_wait0();
        gr_wg_keep(o);
        if (kt + 1 < tiles) {
            gr_wg_keep(sn);
            #pragma unroll
            for (int n = 0; n < 8; n++) for (int e = 0; e < 4; e++) s[n][e] = sn[n][e];
        }
    }
    __syncthreads();   // the result staging below reuses the tile buffers
#else
    for (int kt = 0; kt < tiles; kt++) {
        const int buf = kt & 1;
        const i64 j0 = (i64)kt * 64;
        if (kt + 1 < tiles) {   // the next tile into the other buffers (read in tile kt − 1)
            const i64 jn = j0 + 64;
            gr_wg_load_tile(sKa + (buf ^ 1) * GR_WG_TILE_BYTES, kh, jn, L);
            gr_wg_load_tile(sVa + (buf ^ 1) * GR_WG_TILE_BYTES, vh, jn, L);
            gr_tc_load_key_ts(tsK + (buf ^ 1) * 64, tsb, jn, L);
            gr_tc_load_pos(pwS + (buf ^ 1) * 128, pw, i0, jn, N);
            gr_cp_async_commit();
            gr_cp_async_wait<1>();
        } else {
            gr_cp_async_wait<0>();
        }
        gr_wg_proxy_fence();
        __syncthreads();
        float s[8][4];
        if (GR_WG_MODE == 1) mmaQK(s, sKa + buf * GR_WG_TILE_BYTES);
        else {
            issueQK(s, sKa + buf * GR_WG_TILE_BYTES);
            gr_wg_wait0();
            gr_wg_keep(s);
        }
        scores(s, kt, buf);
        issuePV(s, sVa + buf * GR_WG_TILE_BYTES);
        gr_wg_wait0();
        gr_wg_keep(o);
        __syncthreads();   // this tile's buffers are refilled next iteration
    }
#endif
    // out: as gr_hstu_tc_qblock (16-byte stores of whole rows through shared memory where aligned)
    const float outScale = invN;
    const i64 rs = H * dv, dc = dv;
    if ((dc & 3) == 0 && (rs & 3) == 0 && ((unsigned long long)out & 15) == 0) {
        constexpr int RS = DP + 8, C4 = DP / 4;
        float* st = (float*)base + warp * 16 * RS;   // [16][RS], this warp's rows (the tiles are free)
        #pragma unroll
        for (int n = 0; n < DP / 8; n++) {
            #pragma unroll
            for (int x = 0; x < 2; x++)
                *(u64*)(st + (g + 8 * x) * RS + 8 * n + 2 * tg) = (u64)__float_as_uint(o[n][2 * x] * outScale)
                                                                  | ((u64)__float_as_uint(o[n][2 * x + 1] * outScale) << 32);
        }
        __syncwarp();
        #pragma unroll
        for (int x = lane; x < 16 * C4; x += 32) {
            const int r = x / C4, c = 4 * (x % C4);
            const i64 i = i0 + 16 * warp + r;
            if (i < L && c < dc) *(uint4*)(out + (sb + i) * rs + h * dc + c) = *(const uint4*)(st + r * RS + c);
        }
        return;
    }
    #pragma unroll
    for (int n = 0; n < DP / 8; n++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            const i64 i = rowI[e >> 1], d = 8 * n + 2 * tg + (e & 1);
            if (i < L && d < dc) out[(sb + i) * rs + h * dc + d] = o[n][e] * outScale;
        }
    }
#endif
}
