// HSTU attention on the tensor cores (issue #5 item 3): bf16 operands, mma.sync m16n8k16 with f32
// accumulation, FlashAttention-2 structure without a softmax. No N×N matrix is stored.
//
// Shapes: T total jagged tokens, H heads, DP the head dim padded to 32, 64 or 128 (dqk, dv ≤ DP;
// padding columns are zeros), N the padded width (the 1/N normaliser and the bias tables), L the
// length of one sequence. Operands are packed bf16 [H][T][DP] (gr_hstu_tc_pack).
//
// For sequence b, query i < L, key j < L, allowed(i, j) (below):
//   s_ij = q_i·k_j + wPos[N−1+j−i] + wTs[bucket(T'[b, i+1] − T[b, j])],  a_ij = SiLU(s_ij)/N,
//   out_i = Σ_j a_ij v_j;  T' repeats the last column (T'[b, N] = T[b, N−1]).
// The mask (HEAD's pt_hstu_attention `_get_valid_attn_mask`, causal): with hist = L − targets
// (targets clamped to [0, L]) and c = contextual prefix length,
//   c = 0: id(x) = min(x, hist);  allowed = i == j || id(i) > id(j)
//   c > 0: id(x) = min(max(x − c + 1, 0), hist − c + 1);
//          allowed = i == j || id(i) > id(j) || (id(i) == 0 && id(j) < hist − c + 1)
// i.e. plain causal for targets = c = 0; the last `targets` tokens attend the history and
// themselves only; the first c tokens attend every history token and are attended by all.
// The bias keeps the plain positions i, j in every case (also for j > i in the contextual rows).
//
// Tiles: 64 queries × 64 keys, 4 warps (128 threads), each warp 16 rows of the tile. Shared
// tiles are [row][DP] bf16 with the 16-byte chunks of a row XOR-swizzled by the row, so that
// ldmatrix reads 8 rows without bank conflicts. K/V (forward) and Q/dO (backward) tiles are
// double-buffered with cp.async.
//
// The PTX (mma, ldmatrix, cp.async, cvt) is used where __CUDA_ARCH__ is defined (NVRTC); the host
// emulator (scripts/cuda-emulator) runs the same index logic with software versions of those
// instructions (exact products, f32 sums), which need every thread of a block to reach them
// together — the kernels below keep all of them in block-uniform control flow. There cp.async
// writes shared memory only at the cp.async.wait_group that completes it (emu_cp_async.h).

typedef unsigned short u16;

#define GR_TC_THREADS 128
#define GR_TC_TILE 64

// ---- bf16 and shared-memory helpers

__device__ __forceinline__ u32 gr_bf16_bits(float f) {   // round to nearest even
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

__device__ __forceinline__ u32 gr_pack_bf16(float lo, float hi) {
#ifdef __CUDA_ARCH__
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    return gr_bf16_bits(lo) | (gr_bf16_bits(hi) << 16);
#endif
}

__device__ __forceinline__ float gr_bf16_float(u32 bits) { return __int_as_float((int)(bits << 16)); }

// Element offset of (row, 8·chunk) in a swizzled [rows][DP] bf16 tile.
template <int DP>
__device__ __forceinline__ int gr_swz(int row, int chunk) {
    int sw = DP >= 64 ? (row & 7) : ((row >> 1) & 3);
    return row * DP + ((chunk ^ sw) << 3);
}

// tanh(x) by one MUFU instruction (tanh.approx).
__device__ __forceinline__ float gr_fast_tanh(float x) {
#ifdef __CUDA_ARCH__
    float t;
    asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(x));
    return t;
#else
    return tanhf(x);
#endif
}

__device__ __forceinline__ float gr_fast_sigmoid(float x) {
#ifdef __CUDA_ARCH__
    float t;
    asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(0.5f * x));
    return 0.5f * t + 0.5f;
#else
    return 1.0f / (1.0f + expf(-x));
#endif
}

// ---- warp-level matrix instructions (and their emulator versions)

#ifndef __CUDA_ARCH__
static u32 gr_emu_regs[1024][6];
static const u16* gr_emu_addr[1024];
#endif

// The shared address of p (the emulator's: an address in its dynamic shared window, 0 elsewhere).
__device__ __forceinline__ u32 gr_smem_addr(const void* p) {
#ifdef __CUDA_ARCH__
    u32 r;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
    return r;
#else
    return emu_smem_addr(p);
#endif
}

// c (16×8 f32) += a (16×16 bf16, row) · b (16×8 bf16, col); fragments as in the PTX ISA.
__device__ __forceinline__ void gr_mma(float* c, const u32* a, const u32* b) {
#ifdef __CUDA_ARCH__
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    int t = threadIdx.x, lane = t & 31, w0 = t - lane, g = lane >> 2, tg = lane & 3;
    #pragma unroll
    for (int x = 0; x < 4; x++) gr_emu_regs[t][x] = a[x];
    gr_emu_regs[t][4] = b[0]; gr_emu_regs[t][5] = b[1];
    __syncthreads();
    #pragma unroll
    for (int e = 0; e < 4; e++) {
        int row = g + (e >= 2 ? 8 : 0), col = 2 * tg + (e & 1);
        float sum = 0.0f;
        #pragma unroll
        for (int k = 0; k < 16; k++) {
            u32 ar = gr_emu_regs[w0 + (row & 7) * 4 + (k & 7) / 2][(row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)];
            u32 br = gr_emu_regs[w0 + col * 4 + (k & 7) / 2][4 + (k >= 8 ? 1 : 0)];
            sum += gr_bf16_float((ar >> (16 * (k & 1))) & 0xffffu) * gr_bf16_float((br >> (16 * (k & 1))) & 0xffffu);
        }
        c[e] += sum;
    }
    __syncthreads();
#endif
}

// The A fragment (16 × 16 bf16) of columns 16·kk .. 16·kk + 15 of a warp's f32 accumulator tile
// (C layout of m16n8 tiles 2·kk and 2·kk + 1): a C tile feeds the next mma without shared memory.
template <int NT>
__device__ __forceinline__ void gr_tc_afrag(u32 (&a)[4], const float (&p)[NT][4], int kk) {
    a[0] = gr_pack_bf16(p[2 * kk][0], p[2 * kk][1]);
    a[1] = gr_pack_bf16(p[2 * kk][2], p[2 * kk][3]);
    a[2] = gr_pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]);
    a[3] = gr_pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3]);
}

template <bool TRANS>
__device__ __forceinline__ void gr_ldmatrix(u32* r, const u16* p);

// ldmatrix .x4 (trans = 0) or .x4.trans at the shared address a.
template <bool TRANS>
__device__ __forceinline__ void gr_ldmatrix_shared(u32* r, u32 a) {
#ifdef __CUDA_ARCH__
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#else
    gr_ldmatrix<TRANS>(r, (const u16*)emu_smem_ptr(a, 16));
#endif
}

// ldmatrix .x4 (trans = 0) or .x4.trans: lane l gives the address of row (l & 7) of matrix l >> 3.
template <bool TRANS>
__device__ __forceinline__ void gr_ldmatrix(u32* r, const u16* p) {
#ifdef __CUDA_ARCH__
    gr_ldmatrix_shared<TRANS>(r, gr_smem_addr(p));
#else
    int t = threadIdx.x, lane = t & 31, w0 = t - lane, g = lane >> 2, tg = lane & 3;
    gr_emu_addr[t] = p;
    __syncthreads();
    #pragma unroll
    for (int m = 0; m < 4; m++) {
        u32 lo, hi;
        if (TRANS) {
            lo = gr_emu_addr[w0 + m * 8 + 2 * tg][g];
            hi = gr_emu_addr[w0 + m * 8 + 2 * tg + 1][g];
        } else {
            lo = gr_emu_addr[w0 + m * 8 + g][2 * tg];
            hi = gr_emu_addr[w0 + m * 8 + g][2 * tg + 1];
        }
        r[m] = lo | (hi << 16);
    }
    __syncthreads();
#endif
}

// ldmatrix from a swizzled tile at element offset `off`: on the device by the tile's shared
// address (u32, computed once per tile) plus 2·off, so that with offsets from gr_swz_offs the
// address is a register plus a constant (no generic → shared conversion and 64-bit arithmetic
// per instruction); the emulator reads tile + off.
template <bool TRANS>
__device__ __forceinline__ void gr_ldsm(u32* r, const u16* tile, u32 tileAddr, int off) {
#ifdef __CUDA_ARCH__
    gr_ldmatrix_shared<TRANS>(r, tileAddr + 2u * (u32)off);
#else
    (void)tileAddr;
    gr_ldmatrix<TRANS>(r, tile + off);
#endif
}

// Element offsets in a swizzled [rows][DP] tile of a lane's ldmatrix row `row` (+ 16·m) and
// chunk 2·kk + cb: gr_swz(row + 16·m, 2·kk + cb) = o[kk & 3] + 64·(kk >> 2) + 16·m·DP, since the
// swizzle depends only on the row's low 3 bits and XORs chunk bits below 8 (at DP = 128, kk ≥ 4
// sets chunk bit 3, which it keeps). Four registers per operand; the rest are constants.
template <int DP>
struct GrSwzOffs { int o[4]; };

template <int DP>
__device__ __forceinline__ GrSwzOffs<DP> gr_swz_offs(int row, int cb) {
    GrSwzOffs<DP> r;
    #pragma unroll
    for (int q = 0; q < 4; q++) r.o[q] = gr_swz<DP>(row, 2 * q + cb);
    return r;
}

template <int DP>
__device__ __forceinline__ int gr_swz_at(const GrSwzOffs<DP>& w, int kk, int m) { return w.o[kk & 3] + 64 * (kk >> 2) + 16 * m * DP; }

// 16 bytes global → shared, zero-filled when !valid.
__device__ __forceinline__ void gr_cp_async16(u16* dst, const u16* src, bool valid) {
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(gr_smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
#else
    emu_cp_async(dst, valid ? src : nullptr, 16);   // written at its cp.async.wait_group
#endif
}

// 4 or 8 bytes global → shared (cp.async.ca), zero-filled when !valid.
template <int BYTES>
__device__ __forceinline__ void gr_cp_async_small(void* dst, const void* src, bool valid) {
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;"
                 :: "r"(gr_smem_addr(dst)), "l"(src), "n"(BYTES), "r"(valid ? BYTES : 0));
#else
    emu_cp_async(dst, valid ? src : nullptr, BYTES);
#endif
}

__device__ __forceinline__ void gr_cp_async_commit() {
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.commit_group;");
#else
    emu_cp_async_commit();
#endif
}

template <int PENDING>
__device__ __forceinline__ void gr_cp_async_wait() {
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.wait_group %0;" :: "n"(PENDING));
#else
    emu_cp_async_wait(PENDING);
#endif
}

// 16 bytes global → shared (u32 address `dstAddr`; the emulator writes dst, or the byte at
// dstAddr where dst is null), zero-filled when !valid.
__device__ __forceinline__ void gr_cp_async16_at(u32 dstAddr, u16* dst, const u16* src, bool valid) {
#ifdef __CUDA_ARCH__
    (void)dst;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dstAddr), "l"(src), "r"(valid ? 16 : 0));
#else
    gr_cp_async16(dst ? dst : (u16*)emu_smem_ptr(dstAddr, 16), src, valid);
#endif
}

// 16 bytes global → shared, always valid (no source-size operand).
__device__ __forceinline__ void gr_cp_async16_full(u32 dstAddr, u16* dst, const u16* src) {
#ifdef __CUDA_ARCH__
    (void)dst;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(dstAddr), "l"(src));
#else
    gr_cp_async16(dst ? dst : (u16*)emu_smem_ptr(dstAddr, 16), src, true);
#endif
}

// rows [row0, row0 + 64) of one sequence's packed [rows][DP] slab `src` (row 0 exists: the
// sequence is not empty; row0 < 2³¹ / DP) into a swizzled tile; rows ≥ rowEnd are zero-filled
// (their source address is src's first row). Thread t copies chunk t % (DP/8) of rows
// t / (DP/8) + RP·p (RP = 1024 / DP rows per pass): the swizzle pattern repeats every 8 rows (RP
// is a multiple of 8), so the shared address is one per-thread base plus compile-time offsets,
// and the source one 32-bit offset per pass.
template <int DP>
__device__ __forceinline__ void gr_tc_load_tile(u16* tile, const u16* src, i64 row0, i64 rowEnd) {
    constexpr int chunks = DP / 8, RP = GR_TC_THREADS / chunks, passes = GR_TC_TILE / RP;
    const int r0 = (int)threadIdx.x / chunks, ch = (int)threadIdx.x % chunks;
    const i64 left64 = rowEnd - row0 - r0;   // pass p is valid while RP·p < left
    const int left = left64 < 0 ? 0 : left64 > GR_TC_TILE ? GR_TC_TILE : (int)left64;
    const int o0 = ((int)row0 + r0) * DP + ch * 8;
    u16* d = tile + gr_swz<DP>(r0, ch);
    const u32 da = gr_smem_addr(d);
    if (rowEnd - row0 >= GR_TC_TILE) {   // block-uniform: a whole tile, one source address plus constants
        const u16* s = src + o0;
        #pragma unroll
        for (int p = 0; p < passes; p++) gr_cp_async16_full(da + 2 * RP * p * DP, d + RP * p * DP, s + RP * p * DP);
        return;
    }
    #pragma unroll
    for (int p = 0; p < passes; p++) {
        const bool valid = RP * p < left;
        gr_cp_async16_at(da + 2 * RP * p * DP, d + RP * p * DP, src + (valid ? o0 + RP * p * DP : 0), valid);
    }
}

// ---- mask and bias

__device__ __forceinline__ bool gr_hstu_allowed(i64 i, i64 j, i64 hist, i64 ctx) {
    if (i == j) return true;
    if (ctx == 0) return (i < hist ? i : hist) > (j < hist ? j : hist);
    i64 maxId = hist - ctx + 1;
    i64 ii = i - ctx + 1, jj = j - ctx + 1;
    ii = ii < 0 ? 0 : ii; ii = ii > maxId ? maxId : ii;
    jj = jj < 0 ? 0 : jj; jj = jj > maxId ? maxId : jj;
    return ii > jj || (ii == 0 && jj < maxId);
}

// gr_hstu_allowed in 32 bits (positions, L, hist and ctx of one sequence: < 2³¹).
__device__ __forceinline__ bool gr_hstu_allowed32(int i, int j, int hist, int ctx) {
    if (i == j) return true;
    if (ctx == 0) return (i < hist ? i : hist) > (j < hist ? j : hist);
    const int maxId = hist - ctx + 1;
    int ii = i - ctx + 1, jj = j - ctx + 1;
    ii = ii < 0 ? 0 : ii; ii = ii > maxId ? maxId : ii;
    jj = jj < 0 ? 0 : jj; jj = jj > maxId ? maxId : jj;
    return ii > jj || (ii == 0 && jj < maxId);
}

// Whether every (i, j) of the tile (queries i0.., keys j0.., 64 each) is allowed and inside L:
// then the per-element mask is skipped.
__device__ __forceinline__ bool gr_hstu_tile_full(i64 i0, i64 j0, i64 L, i64 hist, i64 ctx) {
    return ctx == 0 && j0 + GR_TC_TILE <= i0 && i0 + GR_TC_TILE <= hist && hist <= L;
}

// Shared-memory constants of a CTA, by cp.async (part of the caller's first group): the bucket
// table (256 u64), its u32 form for exponents 0..30 (table32: 64 × (base, t1, t2, t3), thresholds
// capped at 2³² − 1, built on the host) and wTs (129 floats, padded to 132 with zeros).
__device__ __forceinline__ void gr_tc_load_bias_tables(u64* tableS, uint4* t32, float* twS, const u64* table,
                                                       const uint4* table32, const float* tw) {
    for (int x = threadIdx.x; x < 128; x += GR_TC_THREADS) gr_cp_async16((u16*)(tableS + 2 * x), (const u16*)(table + 2 * x), true);
    for (int x = threadIdx.x; x < 64; x += GR_TC_THREADS) gr_cp_async16((u16*)(t32 + x), (const u16*)(table32 + x), true);
    for (int x = threadIdx.x; x < 132; x += GR_TC_THREADS) gr_cp_async_small<4>(twS + x, tw + (x < 129 ? x : 0), x < 129);
}

// dst[x] = T[b, j0 + x] for j0 + x < L, else 0 (64 keys), by cp.async.
__device__ __forceinline__ void gr_tc_load_key_ts(i64* dst, const i64* tsb, i64 j0, i64 L) {
    const int x = (int)threadIdx.x;   // GR_TC_THREADS ≥ 64
    if (x < GR_TC_TILE) {
        const bool valid = j0 + x < L;
        gr_cp_async_small<8>(dst + x, tsb + (valid ? j0 + x : 0), valid);
    }
}

// dst[x] = T'[b, i0 + x + 1] = T[b, min(i0 + x + 1, N − 1)] for i0 + x < L, else 0 (64 queries).
__device__ __forceinline__ void gr_tc_load_query_ts(i64* dst, const i64* tsb, i64 i0, i64 L, i64 N) {
    const int x = (int)threadIdx.x;   // GR_TC_THREADS ≥ 64
    if (x < GR_TC_TILE) {
        const i64 i = i0 + x, nx = i + 1 < N ? i + 1 : N - 1;
        gr_cp_async_small<8>(dst + x, tsb + (i < L ? nx : 0), i < L);
    }
}

__device__ __forceinline__ int gr_clz32(u32 x) {
#ifdef __CUDA_ARCH__
    return __clz((int)x);
#else
    return x == 0 ? 32 : __builtin_clz(x);
#endif
}

// The time bucket of a gap |d| < 2³¹ from the u32 table: the same value as gr_time_bucket (the
// thresholds of exponents ≤ 30 are < 2³¹; "none" is capped at 2³² − 1, above every such |d|).
__device__ __forceinline__ int gr_time_bucket32(int d, const uint4* t32) {
    u32 m = d < 0 ? 0u - (u32)d : (u32)d;
    m = m < 1u ? 1u : m;
    const uint4 t = t32[31 - gr_clz32(m)];
    return (int)t.x + (m >= t.y ? 1 : 0) + (m >= t.z ? 1 : 0) + (m >= t.w ? 1 : 0);
}

// The 32-bit path's bucket cells (shared, built per CTA by gr_tc_build_cells): 124 cells of |gap|
// m < 2³¹, cell 4e + q for e = floor(log2 m) and q the next two bits of m, i.e. the bits of
// (float)m rounded toward zero (exact cell) >> 21, less 127·4. A cell spans a ratio ≤ 1.25 (one
// integer each below 8) and holds at most one bucket threshold (buckets are ≥ ~1.35 apart; checked
// for every cell against TimeBucket's definition): x = that threshold (0xffffffff: none),
// y = the bucket at the cell's start, z, w = wTs[y], wTs[y + (x present)] (float bits). One shared
// load and one compare give the bucket and its weight. The weights are stored times `scale` (the
// query-block kernels take wTs/2: they work on h = v/2, gr_tc_fwd_scores).
#define GR_TC_CELLS 124
// Cell x (< GR_TC_CELLS) as (threshold, bucket at its start, both weights times `scale`).
__device__ __forceinline__ uint4 gr_tc_cell_entry(int x, const uint4* table32, const float* tw, float scale) {
        const int e = x >> 2, q = x & 3;
        const u32 lo = e >= 2 ? (1u << e) + ((u32)q << (e - 2)) : (1u << e) + (e == 1 ? (u32)(q >> 1) : 0u);
        const u32 hi = e >= 2 ? lo + (1u << (e - 2)) : lo + 1u;   // the cell is [lo, hi)
        const uint4 t = table32[e];
        const u32 b0 = t.x + (lo >= t.y ? 1u : 0u) + (lo >= t.z ? 1u : 0u) + (lo >= t.w ? 1u : 0u);
        u32 thr = 0xffffffffu;
        if (t.y > lo && t.y < hi) thr = t.y;
        if (t.z > lo && t.z < hi) thr = t.z;
        if (t.w > lo && t.w < hi) thr = t.w;
        const u32 b1 = b0 + (thr != 0xffffffffu ? 1u : 0u);
        return make_uint4(thr, b0, __float_as_uint(scale * tw[b0]), __float_as_uint(scale * tw[b1]));
}

__device__ __forceinline__ void gr_tc_build_cells(uint4* cells, const uint4* table32, const float* tw, float scale = 1.0f) {
    const int x = (int)threadIdx.x;   // GR_TC_THREADS ≥ GR_TC_CELLS
    if (x < GR_TC_CELLS) cells[x] = gr_tc_cell_entry(x, table32, tw, scale);
}

// The query-block kernels' form of the cells (they need the weight, not the bucket): thresholds
// and weight pairs in two arrays, so that an element reads 4 + 4 bytes (two 32-bit loads, the
// second at 2x + (m ≥ threshold)) instead of one 16-byte load: half the shared-memory wavefronts
// where the lanes' cells differ.
struct GrTcCells2 { u32 thr[128]; float w[256]; };

__device__ __forceinline__ void gr_tc_build_cells2(GrTcCells2* c, const uint4* table32, const float* tw, float scale) {
    const int x = (int)threadIdx.x;   // GR_TC_THREADS ≥ GR_TC_CELLS
    if (x < GR_TC_CELLS) {
        const uint4 t = gr_tc_cell_entry(x, table32, tw, scale);
        c->thr[x] = t.x;
        c->w[2 * x] = __int_as_float((int)t.z);
        c->w[2 * x + 1] = __int_as_float((int)t.w);
    }
}

// The cell of a gap |d| < 2³¹ (that of max(|d|, 1)), and m = |d|: a cell's threshold is ≥ 2 (it
// lies strictly inside a cell of integers ≥ 1), so m ≥ threshold holds exactly when
// max(|d|, 1) ≥ threshold. The max is taken on the float (one FMNMX instead of a compare and a select).
__device__ __forceinline__ u32 gr_tc_cell_index(int d, u32& m) {
    m = d < 0 ? 0u - (u32)d : (u32)d;
#ifdef __CUDA_ARCH__
    const u32 bits = __float_as_uint(fmaxf(__uint2float_rz(m), 1.0f));
#else
    const u32 m1 = m < 1u ? 1u : m;
    const int e = 31 - gr_clz32(m1);
    const u32 bits = __float_as_uint((float)(e > 23 ? m1 & ~((1u << (e - 23)) - 1u) : m1));
#endif
    return (bits >> 21) - 127 * 4;
}

__device__ __forceinline__ uint4 gr_tc_cell(int d, const uint4* cells, u32& m) {
    return cells[gr_tc_cell_index(d, m)];
}

// wTs (times the cells' scale) of the gap d, from the split cells.
__device__ __forceinline__ float gr_tc_cell_weight2(int d, const GrTcCells2* c) {
    u32 m;
    const u32 x = gr_tc_cell_index(d, m);
    return c->w[2 * x + (m >= c->thr[x] ? 1u : 0u)];
}

// wTs of the bucket of T'q − T[key c] (tk: the tile's key timestamps), and the bucket. FAST: the
// sequence's timestamps span less than 2³¹ (checked on the device), so the low 32 bits of the
// difference are exact: the cells (`cells`); else the u64 table and wTs in shared memory.
template <bool FAST>
__device__ __forceinline__ float gr_tc_time_weight(i64 tq, const i64* tk, int c, const u64* table, const uint4* cells,
                                                   const float* twS, int& bucket) {
    if (FAST) {
        u32 m;
        const uint4 cl = gr_tc_cell((int)((u32)tq - ((const u32*)tk)[2 * c]), cells, m);
        const bool up = m >= cl.x;
        bucket = (int)cl.y + (up ? 1 : 0);
        return __int_as_float((int)(up ? cl.w : cl.z));
    }
    bucket = gr_time_bucket(tq - tk[c], table);
    return twS[bucket];
}

// Tile-uniform time bucket (32-bit path only). The bucket is monotone non-decreasing in |gap|, so
// when every gap T'q − Tk of a warp's block lies in [lo, hi] with lo ≥ 0 or hi ≤ 0 and the two
// ends share a bucket, that bucket is the bucket of every element: the per-element evaluation
// is skipped. Timestamps enter relative to t0 = (u32)T[b, 0] (exact in 32 bits on this path);
// lo = min q − max k, hi = max q − min k are realised gaps, so they fit too. Only for tiles in
// which every element is valid (`full`): padding rows carry timestamp 0.
struct GrTcSpan { int lo, hi; };

// |a − b| of two timestamps' low words (a gap < 2³¹ in magnitude on the 32-bit path).
__device__ __forceinline__ u32 gr_tc_abs_gap(u32 a, u32 b) {
    const int d = (int)(a - b);
    return d < 0 ? 0u - (u32)d : (u32)d;
}

// min and max of the lanes' spans over the lanes that differ in the bits of `mask` (xor shuffles).
__device__ __forceinline__ GrTcSpan gr_tc_span_reduce(GrTcSpan v, int lowBit, int highBit) {
    for (int o = lowBit; o <= highBit; o <<= 1) {
        const int lo = __shfl_xor_sync(0xffffffffu, v.lo, o), hi = __shfl_xor_sync(0xffffffffu, v.hi, o);
        v.lo = lo < v.lo ? lo : v.lo;
        v.hi = hi > v.hi ? hi : v.hi;
    }
    return v;
}

// The buckets of all gaps q − k (q in qs, k in ks) when they take at most two adjacent values:
// returns b, the bucket of the smallest |gap|, and theta, the smallest |gap| of bucket b + 1
// (0xffffffff when every gap is in b), so that an element's bucket is b + (|gap| ≥ theta) (|gap|
// = 0 counts as 1, and theta ≥ 2 here); −1 when they may take more. theta is the first
// threshold of bucket b + 1 in the exponent of the largest |gap| (TimeBucket's table: bucket(2^e)
// and up to three thresholds inside (2^e, 2^(e+1))), or the exponent's start, unless exponent
// e − 1 already reaches b + 1 at one of its thresholds.
__device__ __forceinline__ int gr_tc_uniform_bucket(GrTcSpan qs, GrTcSpan ks, const uint4* t32, u32& theta) {
    const int lo = (int)((u32)qs.lo - (u32)ks.hi), hi = (int)((u32)qs.hi - (u32)ks.lo);
    theta = 0xffffffffu;
    if (!(lo >= 0 || hi <= 0)) return -1;
    const u32 ml = lo >= 0 ? (u32)lo : 0u - (u32)hi, mh = lo >= 0 ? (u32)hi : 0u - (u32)lo;   // |gap| range
    const int b = gr_time_bucket32((int)ml, t32), bz = gr_time_bucket32((int)mh, t32);
    if (bz == b) return b;
    if (bz != b + 1) return -1;
    const int e = 31 - gr_clz32(mh < 1u ? 1u : mh);
    const uint4 t = t32[e];
    const int k = b + 1 - (int)t.x;   // 0 ... 3: bucket(2^e) = t.x ≤ b + 1 = bucket(mh)
    u32 th;
    if (k >= 1) {
        th = k == 1 ? t.y : k == 2 ? t.z : t.w;
    } else {   // bucket(2^e) = b + 1: the step is at 2^e or at a threshold of exponent e − 1
        th = 1u << e;
        if (e >= 1) {
            const uint4 t1 = t32[e - 1];
            const int k1 = b + 1 - (int)t1.x;
            if (k1 <= 0) return -1;   // (not reached: bucket(2^(e−1)) ≤ bucket(ml) = b)
            const u32 c = k1 == 1 ? t1.y : k1 == 2 ? t1.z : k1 == 3 ? t1.w : 0xffffffffu;
            if (c < th) th = c;
        }
    }
    if (!(th > ml && th <= mh)) return -1;   // (a safety net: holds by construction)
    theta = th;
    return b;
}

// p[0] += a, p[1] += b (8-byte aligned), one vector reduction on sm_90.
__device__ __forceinline__ void gr_red_add2(float* p, float a, float b) {
#ifdef __CUDA_ARCH__
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" :: "l"(p), "f"(a), "f"(b) : "memory");
#else
    atomicAdd(p, a);
    atomicAdd(p + 1, b);
#endif
}

// The position weights of a tile pair (cp.async): pwS[x] = wPos[N − 1 + (j0 − i0) + x − 64] for x in
// [1, 127] (gap j − i = (j0 − i0) + x − 64), 0 outside [0, 2N − 2].
__device__ __forceinline__ void gr_tc_load_pos(float* pwS, const float* pw, i64 i0, i64 j0, i64 N) {
    const int x = (int)threadIdx.x;   // GR_TC_THREADS = 128
    {
        const i64 idx = N - 1 + (j0 - i0) + x - 64;
        const bool valid = idx >= 0 && idx <= 2 * N - 2;
        gr_cp_async_small<4>(pwS + x, pw + (valid ? idx : 0), valid);
    }
}

// ---- packing

// dst [H][T][DP] bf16 (u16) from src (T, ·) f32 with row stride rs, head h at columns h·d ..< (h+1)·d;
// columns d ..< DP are zeros. One thread per pair of columns.
extern "C" __global__ void gr_hstu_tc_pack(const float* src, i64 rs, i64 T, i64 H, i64 d, i64 DP, u32* dst) {
    i64 half = DP / 2, n = H * T * half;
    GR_GRID_STRIDE(x, n) {
        i64 c = (x % half) * 2, t = (x / half) % T, h = x / (half * T);
        const float* row = src + t * rs + h * d;
        float lo = c < d ? row[c] : 0.0f, hi = c + 1 < d ? row[c + 1] : 0.0f;
        dst[x] = gr_pack_bf16(lo, hi);
    }
}

// q, k, v (one row stride rs; dims dqk, dqk, dv) packed as gr_hstu_tc_pack does, in one launch:
// grid (·, 3), blockIdx.y picks the operand.
extern "C" __global__ void gr_hstu_tc_pack3(const float* q, const float* k, const float* v, i64 rs, i64 T, i64 H, i64 dqk,
                                            i64 dv, i64 DP, u32* qd, u32* kd, u32* vd) {
    const int which = blockIdx.y;
    const float* src = which == 0 ? q : which == 1 ? k : v;
    u32* dst = which == 0 ? qd : which == 1 ? kd : vd;
    const i64 d = which == 2 ? dv : dqk, half = DP / 2, n = H * T * half;
    GR_GRID_STRIDE(x, n) {
        i64 c = (x % half) * 2, t = (x / half) % T, h = x / (half * T);
        const float* row = src + t * rs + h * d;
        float lo = c < d ? row[c] : 0.0f, hi = c + 1 < d ? row[c + 1] : 0.0f;
        dst[x] = gr_pack_bf16(lo, hi);
    }
}

// ---- work items

// flags[b] = 1 when T[b, 0 ... min(L, N − 1)] spans less than 2³¹ (then every gap the kernels take
// is exact in 32 bits: the 32-bit bucket path), else 0. grid B, block 256.
extern "C" __global__ void gr_hstu_tc_ts_flags(const int* offsets, const i64* ts, i64 N, int* flags) {
    __shared__ i64 lo[256], hi[256];
    const i64 b = blockIdx.x, L = offsets[b + 1] - offsets[b];
    const i64 count = (L < N - 1 ? L : N - 1) + 1;
    i64 mn = 0x7fffffffffffffffLL, mx = -0x7fffffffffffffffLL - 1;
    for (i64 x = threadIdx.x; x < count; x += 256) {
        const i64 t = ts[b * N + x];
        mn = t < mn ? t : mn;
        mx = t > mx ? t : mx;
    }
    lo[threadIdx.x] = mn;
    hi[threadIdx.x] = mx;
    __syncthreads();
    for (int w = 128; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) {
            lo[threadIdx.x] = lo[threadIdx.x + w] < lo[threadIdx.x] ? lo[threadIdx.x + w] : lo[threadIdx.x];
            hi[threadIdx.x] = hi[threadIdx.x + w] > hi[threadIdx.x] ? hi[threadIdx.x + w] : hi[threadIdx.x];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) flags[b] = (u64)hi[0] - (u64)lo[0] < (1ull << 31) ? 1 : 0;
}

// This CTA's work item: sequence b, block (query block: forward and dQ; key block: dK/dV), whether
// the sequence takes the 32-bit bucket path (flags), its rows and history length.
struct GrTcItem {
    i64 b, block, base, L, hist;
    bool fast;
};

__device__ __forceinline__ GrTcItem gr_tc_item(const int* items, const int* offsets, const int* flags, i64 targets) {
    GrTcItem it;
    it.b = items[2 * blockIdx.x];
    it.block = items[2 * blockIdx.x + 1];
    it.fast = flags[it.b] != 0;
    it.base = offsets[it.b];
    it.L = offsets[it.b + 1] - it.base;
    it.hist = it.L - (targets < 0 ? 0 : (targets > it.L ? it.L : targets));
    return it;
}

// ---- forward

// Shared bytes of the forward kernel for head dim DP.
#define GR_TC_FWD_SMEM(DP) (4 * GR_TC_TILE * (DP) * 2 + 2 * GR_TC_TILE * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 64 * 16)

// The warp's 16 queries × 64 keys (query rows rowI, key columns j0 + c): s ← a = SiLU(s + bias)/N
// (GRAD false: the forward), or da ← ds = dA·SiLU'(s + bias)/N (GRAD true: the dQ kernel; s is
// left as is); 0 where masked. Every element is computed without a branch (all indices stay in
// range for masked elements too), so that the compiler can interleave the 32 independent chains;
// the mask is applied afterwards, only in tiles that are not entirely allowed.
// UNI: every element's time bucket is ub (gr_tc_uniform_bucket; the tile is full).
template <bool FAST, bool GRAD, bool UNI>
__device__ __forceinline__ void gr_tc_fwd_scores(float (&s)[8][4], float (&da)[8][4], bool full, const i64 (&rowI)[2],
                                                 const i64 (&tq)[2], i64 j0, i64 L, i64 hist, i64 ctx, const i64* tk,
                                                 const float* pws, const float* twS, const u64* tableS, const GrTcCells2* cells,
                                                 float invN, int warp, int g, int tg, int ub, u32 theta) {
    // h = v/2 = s/2 + wPos/2 + wTs/2 (the cells hold wTs/2; the 64-bit path's and the uniform
    // bucket's wTs are halved here) and t = tanh(h): two FFMA and one MUFU per element.
    (void)invN;
    // UNI: bucket ub, or ub + 1 where |gap| ≥ theta (twS has 132 entries: ub + 1 is in range)
    const float tbh = UNI ? 0.5f * twS[ub] : 0.0f, tbh1 = UNI ? 0.5f * twS[ub + 1] : 0.0f;
    #pragma unroll
    for (int n = 0; n < 8; n++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            const int x = e >> 1, c = 8 * n + 2 * tg + (e & 1), r = 16 * warp + g + 8 * x;
            int bucket;
            const float twh = UNI ? (gr_tc_abs_gap((u32)tq[x], ((const u32*)tk)[2 * c]) >= theta ? tbh1 : tbh) : FAST ? gr_tc_cell_weight2((int)((u32)tq[x] - ((const u32*)tk)[2 * c]), cells)
                                               : 0.5f * gr_tc_time_weight<false>(tq[x], tk, c, tableS, nullptr, twS, bucket);
            (void)bucket;
            const float h = fmaf(s[n][e], 0.5f, fmaf(pws[c - r + 64], 0.5f, twh));
            const float t = gr_fast_tanh(h);
            if (GRAD) {   // SiLU'(v) = σ(1 + v(1 − σ)) = (1 + t)(1 + h(1 − t))/2; the 1/(2N) scales dq at the end
                da[n][e] = da[n][e] * (1.0f + t) * fmaf(h, 1.0f - t, 1.0f);
            } else {      // SiLU(v) = v·σ(v) = h + h·t; the 1/N scales O at the end
                s[n][e] = fmaf(h, t, h);
            }
        }
    }
    if (!UNI && !full) {   // in 32 bits; the causal case (ctx = 0, warp-uniform) without clamps
        const int Li = (int)L, hi = (int)hist, ci = (int)ctx;
        #pragma unroll
        for (int n = 0; n < 8; n++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = (int)rowI[e >> 1], j = (int)j0 + 8 * n + 2 * tg + (e & 1);
                const bool ok = ci == 0 ? i < Li && j < Li && (i == j || (i < hi ? i : hi) > (j < hi ? j : hi))
                                        : i < Li && j < Li && gr_hstu_allowed32(i, j, hi, ci);
                if (!ok) {
                    if (GRAD) da[n][e] = 0.0f;
                    else s[n][e] = 0.0f;
                }
            }
        }
    }
}

// grid (query items, H), block 128: 64 queries per CTA (16 per warp; items[2x] = sequence b,
// items[2x+1] = query block of work item x, flags[b]: the 32-bit bucket path), looping over the
// key tiles the block's queries may attend (K, V, key timestamps and the position window
// double-buffered with cp.async).
// GRAD false, the forward: out_i = Σ_j a_ij v_j; out (T rows, stride rs = H·dv), the block's
//   rows overwritten at columns h·dc ..< h·dc + dc (dc = dv). Q fragments kept in registers
//   (loaded before the key loop, so that Q's shared buffer serves K).
// GRAD true, the backward's dQ (FlashAttention-2's dq pass): s = Q Kᵀ and dA = dO Vᵀ recomputed,
//   ds = dA·SiLU'(s + bias)/N, dq_i = Σ_j ds_ij k_j; dq (T rows, stride rs) overwritten at
//   columns h·dc (dc = dqk). Q and dO fragments read from shared memory per use.
template <int DP, bool GRAD, bool QS = false>
__device__ __forceinline__ void gr_hstu_tc_qblock(const u16* qb, const u16* kb, const u16* vb, const u16* gb,
                                                  const int* offsets, const int* items, const int* flags, const i64* ts,
                                                  const float* pw, const float* tw, const u64* table, const uint4* table32,
                                                  i64 T, i64 H, i64 dc, i64 N, i64 targets, i64 ctx, i64 rs, float* out) {
    extern __shared__ float smem[];
    // QSM (QS, the forward only; used at DP ≤ 64, where it is faster): Q's fragments read from
    // shared memory per use (fewer registers: 3 CTAs per SM), one V buffer.
    constexpr bool QSM = QS && !GRAD, V2 = !GRAD && !QS;
    // TB (V2): a third K/V buffer (and key timestamps, position window) in static shared memory;
    // tile kt lives in buffer kt % 3, tile kt + 2 is prefetched right after the barrier of tile kt
    // (every warp is done with tile kt − 1, whose buffer it refills): one barrier per tile, and
    // two tiles in flight.
    constexpr bool TB = V2;
    __shared__ uint4 k3v[TB ? GR_TC_TILE * DP / 8 : 1], v3v[TB ? GR_TC_TILE * DP / 8 : 1];   // [64][DP] bf16 each
    __shared__ i64 ts3[TB ? GR_TC_TILE : 1];
    __shared__ float pw3[TB ? 128 : 1];
    u16* k3 = (u16*)k3v;
    u16* v3 = (u16*)v3v;
    // GRAD: Q, dO, K[2], V[2]. Forward (V2): K[2], V[2], the Q tile in K's second buffer until its
    // fragments are in registers (64·DP·2 bytes less). Forward (QSM): Q, K[2], V (V[kt + 1] is
    // loaded after P·V of tile kt, hidden behind the next tile's Q Kᵀ and scores).
    u16* sK = (u16*)smem + (GRAD ? 2 : QSM ? 1 : 0) * GR_TC_TILE * DP;   // [2][64][DP]
    u16* sV = sK + 2 * GR_TC_TILE * DP;                                   // [QSM ? 1 : 2][64][DP]
    u16* sQ = V2 ? sK + GR_TC_TILE * DP : (u16*)smem;                     // [64][DP]
    u16* sG = sQ + GR_TC_TILE * DP;                                       // [64][DP] dO (GRAD only)
    i64* tsK = (i64*)((u16*)smem + (GRAD ? 6 : 4) * GR_TC_TILE * DP);    // [2][64]
    float* pwS = (float*)(tsK + 2 * GR_TC_TILE);         // [2][128]
    float* twS = pwS + 256;                               // [132]
    u64* tableS = (u64*)(twS + 132);                      // [256]
    uint4* t32 = (uint4*)(tableS + 256);                  // [64]

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, tg = lane & 3;
    const GrTcItem it = gr_tc_item(items, offsets, flags, targets);
    const i64 b = it.b, base = it.base, L = it.L, hist = it.hist, h = blockIdx.y;
    const bool fast = it.fast;
    const i64 i0 = it.block * GR_TC_TILE;
    i64 kEnd = i0 + GR_TC_TILE < L ? i0 + GR_TC_TILE : L;
    if (ctx > 0 && i0 < ctx && hist > kEnd) kEnd = hist;
    const int tiles = (int)((kEnd + GR_TC_TILE - 1) / GR_TC_TILE);
    const u16* qh = qb + h * T * DP + base * DP;
    const u16* kh = kb + h * T * DP + base * DP;
    const u16* vh = vb + h * T * DP + base * DP;
    const i64* tsb = ts + b * N;
    const float invN = 1.0f / (float)N;
    const float outScale = GRAD ? 0.5f * invN : invN;   // gr_tc_fwd_scores leaves out these factors

    __shared__ GrTcCells2 cells2;   // read after the loop's first barrier
    GrTcCells2* cells = &cells2;
    gr_tc_build_cells2(cells, table32, tw, 0.5f);   // wTs/2 (gr_tc_fwd_scores)
    gr_tc_load_bias_tables(tableS, t32, twS, table, table32, tw);
    gr_tc_load_tile<DP>(sQ, qh, i0, L);
    if (GRAD) gr_tc_load_tile<DP>(sG, gb + h * T * DP + base * DP, i0, L);
    gr_tc_load_tile<DP>(sK, kh, 0, L);
    if (!QSM) gr_tc_load_tile<DP>(sV, vh, 0, L);
    gr_tc_load_key_ts(tsK, tsb, 0, L);
    gr_tc_load_pos(pwS, pw, i0, 0, N);
    gr_cp_async_commit();
    if (QSM) {   // V[0] in its own group: the loop waits for K first
        gr_tc_load_tile<DP>(sV, vh, 0, L);
        gr_cp_async_commit();
    }

    // this lane's two query rows: i0 + 16·warp + g (+ 8)
    i64 rowI[2], tq[2];
    #pragma unroll
    for (int x = 0; x < 2; x++) {
        rowI[x] = i0 + 16 * warp + g + 8 * x;
        i64 nx = rowI[x] + 1 < N ? rowI[x] + 1 : N - 1;
        tq[x] = rowI[x] < L ? tsb[nx] : 0;
    }
    // the warp's query timestamps relative to T[b, 0] (gr_tc_uniform_bucket; 32-bit path only)
    const u32 t0 = (u32)tsb[0];
    GrTcSpan qspan;
    {
        const int a0 = (int)((u32)tq[0] - t0), a1 = (int)((u32)tq[1] - t0);
        qspan = gr_tc_span_reduce({a0 < a1 ? a0 : a1, a0 < a1 ? a1 : a0}, 4, 16);
    }
    float o[DP / 8][4];
    #pragma unroll
    for (int n = 0; n < DP / 8; n++) for (int e = 0; e < 4; e++) o[n][e] = 0.0f;
    // ldmatrix offsets: Q/dO rows (A operands), K/V rows (B of Q Kᵀ), V/K rows (B of P V, trans)
    const GrSwzOffs<DP> qOff = gr_swz_offs<DP>(16 * warp + (lane & 15), lane >> 4);
    const GrSwzOffs<DP> kOff = gr_swz_offs<DP>((lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1);
    const GrSwzOffs<DP> vOff = gr_swz_offs<DP>((lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4);
    const u32 sKa = gr_smem_addr(sK), sVa = gr_smem_addr(sV), sQa = gr_smem_addr(sQ), sGa = gr_smem_addr(sG);
    u32 qf[V2 ? DP / 16 : 1][4];
    if (V2) {   // Q's fragments into registers, then its buffer is K's second one
        gr_cp_async_wait<0>();
        __syncthreads();
        #pragma unroll
        for (int kk = 0; kk < DP / 16; kk++)
            gr_ldsm<false>(qf[V2 ? kk : 0], sQ, gr_smem_addr(sQ), gr_swz_at<DP>(qOff, kk, 0));
        __syncthreads();
    }
    // TB's buffers (x = 0, 1: the dynamic ones; 2: the static ones)
    auto kBuf = [&](int x) { return TB && x == 2 ? k3 : sK + x * GR_TC_TILE * DP; };
    auto vBuf = [&](int x) { return TB && x == 2 ? v3 : sV + x * GR_TC_TILE * DP; };
    auto tsBuf = [&](int x) { return TB && x == 2 ? ts3 : tsK + x * GR_TC_TILE; };
    auto pwBuf = [&](int x) { return TB && x == 2 ? pw3 : pwS + x * 128; };
    auto prefetchTB = [&](int x, i64 jn) {
        gr_tc_load_tile<DP>(kBuf(x), kh, jn, L);
        gr_tc_load_tile<DP>(vBuf(x), vh, jn, L);
        gr_tc_load_key_ts(tsBuf(x), tsb, jn, L);
        gr_tc_load_pos(pwBuf(x), pw, i0, jn, N);
    };
    if (TB) {   // tile 1 into buffer 1 (Q's, read above)
        if (tiles > 1) prefetchTB(1, GR_TC_TILE);
        gr_cp_async_commit();   // possibly empty: the group count stays uniform
    }

    for (int kt = 0; kt < tiles; kt++) {
        const int buf = TB ? kt % 3 : kt & 1;
        const i64 j0 = (i64)kt * GR_TC_TILE;
        if (TB) {
            // pending: tiles kt and kt + 1 (possibly empty)
            gr_cp_async_wait<1>();
            __syncthreads();
            if (kt + 2 < tiles) prefetchTB(buf == 0 ? 2 : buf - 1, j0 + 2 * GR_TC_TILE);
            gr_cp_async_commit();   // possibly empty
        } else if (!QSM) {
            if (kt + 1 < tiles) {   // prefetch the next key tile
                const i64 jn = j0 + GR_TC_TILE;
                gr_tc_load_tile<DP>(sK + (buf ^ 1) * GR_TC_TILE * DP, kh, jn, L);
                gr_tc_load_tile<DP>(sV + (buf ^ 1) * GR_TC_TILE * DP, vh, jn, L);
                gr_tc_load_key_ts(tsK + (buf ^ 1) * GR_TC_TILE, tsb, jn, L);
                gr_tc_load_pos(pwS + (buf ^ 1) * 128, pw, i0, jn, N);
                gr_cp_async_commit();
                gr_cp_async_wait<1>();
            } else {
                gr_cp_async_wait<0>();
            }
            __syncthreads();
        } else {
            // pending: K[kt] (with its timestamps and position window), then V[kt]
            gr_cp_async_wait<1>();
            __syncthreads();
            if (kt + 1 < tiles) {   // prefetch the next K (its buffer was last read in tile kt − 1)
                const i64 jn = j0 + GR_TC_TILE;
                gr_tc_load_tile<DP>(sK + (buf ^ 1) * GR_TC_TILE * DP, kh, jn, L);
                gr_tc_load_key_ts(tsK + (buf ^ 1) * GR_TC_TILE, tsb, jn, L);
                gr_tc_load_pos(pwS + (buf ^ 1) * 128, pw, i0, jn, N);
            }
            gr_cp_async_commit();   // possibly empty: the group count stays uniform
        }
        const u16* K = TB ? kBuf(buf) : sK + buf * GR_TC_TILE * DP;
        const u16* V = TB ? vBuf(buf) : sV + (QSM ? 0 : buf) * GR_TC_TILE * DP;
        const u32 Ka = TB ? gr_smem_addr(K) : sKa + buf * GR_TC_TILE * DP * 2;
        const u32 Va = TB ? gr_smem_addr(V) : sVa + (QSM ? 0 : buf) * GR_TC_TILE * DP * 2;
        // the tile's bias setup: in the forward before the MMAs (its shared loads overlap them; the
        // dQ kernel, short of registers, after them)
        const bool full = gr_hstu_tile_full(i0, j0, L, hist, ctx);
        const i64* tk = TB ? tsBuf(buf) : tsK + buf * GR_TC_TILE;
        const float* pws = TB ? pwBuf(buf) : pwS + buf * 128;
        int ub = -1;
        u32 theta = 0xffffffffu;
        auto uniform = [&]() {   // block-uniform condition (the shuffles)
            if (fast && full) {
                const u32* tk32 = (const u32*)tk;   // low words
                const int c0 = (int)(tk32[2 * lane] - t0), c1 = (int)(tk32[2 * (lane + 32)] - t0);
                const GrTcSpan kspan = gr_tc_span_reduce({c0 < c1 ? c0 : c1, c0 < c1 ? c1 : c0}, 1, 16);
                ub = gr_tc_uniform_bucket(qspan, kspan, t32, theta);
            }
        };
        if (!GRAD) uniform();
        // S = Q Kᵀ (and dA = dO Vᵀ), 16 × 64 per warp
        float s[8][4], da[8][4];
        #pragma unroll
        for (int n = 0; n < 8; n++) for (int e = 0; e < 4; e++) { s[n][e] = 0.0f; da[n][e] = 0.0f; }
        #pragma unroll
        for (int kk = 0; kk < DP / 16; kk++) {
            u32 qa[4], ga[4];
            if (!V2) gr_ldsm<false>(qa, sQ, sQa, gr_swz_at<DP>(qOff, kk, 0));
            if (GRAD) gr_ldsm<false>(ga, sG, sGa, gr_swz_at<DP>(qOff, kk, 0));
            const u32* a = V2 ? qf[V2 ? kk : 0] : qa;
            #pragma unroll
            for (int np = 0; np < 4; np++) {
                u32 r[4];
                gr_ldsm<false>(r, K, Ka, gr_swz_at<DP>(kOff, kk, np));
                gr_mma(s[2 * np], a, r);
                gr_mma(s[2 * np + 1], a, r + 2);
                if (GRAD) {
                    gr_ldsm<false>(r, V, Va, gr_swz_at<DP>(kOff, kk, np));
                    gr_mma(da[2 * np], ga, r);
                    gr_mma(da[2 * np + 1], ga, r + 2);
                }
            }
        }
        if (GRAD) uniform();
        if (ub >= 0) gr_tc_fwd_scores<true, GRAD, true>(s, da, full, rowI, tq, j0, L, hist, ctx, tk, pws, twS, tableS, cells, invN, warp, g, tg, ub, theta);
        else if (fast) gr_tc_fwd_scores<true, GRAD, false>(s, da, full, rowI, tq, j0, L, hist, ctx, tk, pws, twS, tableS, cells, invN, warp, g, tg, ub, theta);
        else gr_tc_fwd_scores<false, GRAD, false>(s, da, full, rowI, tq, j0, L, hist, ctx, tk, pws, twS, tableS, cells, invN, warp, g, tg, ub, theta);
        if (QSM) {   // V[kt] (pending: V[kt], then K[kt + 1])
            gr_cp_async_wait<1>();
            __syncthreads();
        }
        // O += P V, or dQ += dS K (A operand from registers)
        const u16* B = GRAD ? K : V;
        const u32 Ba = GRAD ? Ka : Va;
        #pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            u32 pa[4];
            gr_tc_afrag<8>(pa, GRAD ? da : s, kk);
            #pragma unroll
            for (int dp = 0; dp < DP / 16; dp++) {
                u32 r[4];
                gr_ldsm<true>(r, B, Ba, gr_swz_at<DP>(vOff, dp, kk));
                gr_mma(o[2 * dp], pa, r);
                gr_mma(o[2 * dp + 1], pa, r + 2);
            }
        }
        if (!TB) __syncthreads();   // the buffers of this tile are refilled next iteration
        if (QSM && kt + 1 < tiles) {   // V[kt + 1] into V's buffer, read by every warp above
            gr_tc_load_tile<DP>(sV, vh, (i64)(kt + 1) * GR_TC_TILE, L);
            gr_cp_async_commit();
        }
    }
    // The block's rows of out: where 16-byte stores are aligned (block-uniform), each warp's
    // 16 × DP results go through shared memory (the tile buffers, free after the loop; rows of
    // DP + 8 floats, so that a store's 8 rows fall on disjoint banks) and leave as 16-byte stores
    // of whole rows (DP = 128: 512 contiguous bytes per instruction), instead of 4-byte stores
    // that each touch 8 rows, i.e. 8 memory transactions per instruction.
    if ((dc & 3) == 0 && (rs & 3) == 0 && ((unsigned long long)out & 15) == 0) {
        constexpr int RS = DP + 8, C4 = DP / 4;
        gr_cp_async_wait<0>();
        __syncthreads();   // every warp is done with the last tile's buffers
        float* st = smem + warp * 16 * RS;   // [16][RS], this warp's rows
        #pragma unroll
        for (int n = 0; n < DP / 8; n++) {
            #pragma unroll
            for (int x = 0; x < 2; x++)
                *(u64*)(st + (g + 8 * x) * RS + 8 * n + 2 * tg) = (u64)__float_as_uint(o[n][2 * x] * outScale)
                                                                  | ((u64)__float_as_uint(o[n][2 * x + 1] * outScale) << 32);
        }
#ifdef __CUDA_ARCH__
        __syncwarp();
#else
        __syncthreads();   // the emulator's lanes do not run in step
#endif
        #pragma unroll
        for (int x = lane; x < 16 * C4; x += 32) {
            const int r = x / C4, c = 4 * (x % C4);
            const i64 i = i0 + 16 * warp + r;
            if (i < L && c < dc) *(uint4*)(out + (base + i) * rs + h * dc + c) = *(const uint4*)(st + r * RS + c);
        }
        return;
    }
    #pragma unroll
    for (int n = 0; n < DP / 8; n++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            const i64 i = rowI[e >> 1], d = 8 * n + 2 * tg + (e & 1);
            if (i < L && d < dc) out[(base + i) * rs + h * dc + d] = o[n][e] * outScale;
        }
    }
}

extern "C" __global__ __launch_bounds__(GR_TC_THREADS, 3) void gr_hstu_tc_fwd_d32(const u16* qb, const u16* kb, const u16* vb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dv, i64 N, i64 targets, i64 ctx, float* out) {
    gr_hstu_tc_qblock<32, false, true>(qb, kb, vb, nullptr, offsets, items, flags, ts, pw, tw, table, table32, T, H, dv, N, targets, ctx, H * dv, out);
}
extern "C" __global__ __launch_bounds__(GR_TC_THREADS, 3) void gr_hstu_tc_fwd_d64(const u16* qb, const u16* kb, const u16* vb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dv, i64 N, i64 targets, i64 ctx, float* out) {
    gr_hstu_tc_qblock<64, false, true>(qb, kb, vb, nullptr, offsets, items, flags, ts, pw, tw, table, table32, T, H, dv, N, targets, ctx, H * dv, out);
}
extern "C" __global__ void gr_hstu_tc_fwd_d128(const u16* qb, const u16* kb, const u16* vb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dv, i64 N, i64 targets, i64 ctx, float* out) {
    gr_hstu_tc_qblock<128, false>(qb, kb, vb, nullptr, offsets, items, flags, ts, pw, tw, table, table32, T, H, dv, N, targets, ctx, H * dv, out);
}

// ---- backward: dK, dV and the bias gradients by key blocks (gr_hstu_tc_bwd), dQ by query blocks
// (gr_hstu_tc_bwd_dq: gr_hstu_tc_qblock<DP, true>, recomputing s and dA as FlashAttention-2's dq
// pass does), so that neither keeps a third accumulator nor adds to global memory with atomics.

// Shared bytes of the key-block kernel for head dim DP.
#define GR_TC_DKDV_SMEM(DP) (6 * GR_TC_TILE * (DP) * 2 + 3 * GR_TC_TILE * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 \
                             + 132 * 4 + 256 * 4 + 64 * 16)
// Shared bytes of the dQ kernel for head dim DP.
#define GR_TC_DQ_SMEM(DP) (6 * GR_TC_TILE * (DP) * 2 + 2 * GR_TC_TILE * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 64 * 16)

// Adds the position-gradient ring entries of gaps lo..hi (gap = i − j, entry N − 1 − gap), times
// `scale`, to dpw and clears them.
// ring: the 4 warps' rings, [4][256].
__device__ __forceinline__ void gr_tc_flush_ring(float* ring, i64 lo, i64 hi, i64 N, float* dpw, float scale) {
    for (i64 gap = lo + threadIdx.x; gap <= hi; gap += GR_TC_THREADS) {
        const int e = (int)(gap & 255);
        const float v = (ring[e] + ring[256 + e]) + (ring[512 + e] + ring[768 + e]);
        if (v != 0.0f) {
            i64 idx = N - 1 - gap;
            if (idx >= 0 && idx <= 2 * N - 2) atomicAdd(dpw + idx, v * scale);
        }
        ring[e] = 0.0f; ring[256 + e] = 0.0f; ring[512 + e] = 0.0f; ring[768 + e] = 0.0f;
    }
}

// The wTs gradient's running sums of a warp (gr_tc_bwd_scores): lanes' partial sums of bucket b
// (lo) and b + 1 (hi), b warp-uniform (−1: none), added to the CTA's dTsS when b moves. Shared
// float atomics are compare-and-swap loops on sm_90, so that 32 lanes adding to one bucket
// serialise: every add to dTsS is one lane's, after a warp reduction. dTsS is f64: it takes
// many partial sums of either sign.
struct GrTcTsAcc { int b; float lo, hi; };

// dTsS[b] += the warp's sum of v (b warp-uniform; every lane takes part).
__device__ __forceinline__ void gr_tc_warp_add(double* dTsS, int b, float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0 && v != 0.0f) atomicAdd(dTsS + b, (double)v);
}

// Adds both running sums to dTsS and clears them (b ← −1).
__device__ __forceinline__ void gr_tc_ts_flush(GrTcTsAcc& acc, double* dTsS) {
    if (acc.b >= 0) {
        gr_tc_warp_add(dTsS, acc.b, acc.lo);
        gr_tc_warp_add(dTsS, acc.b + 1, acc.hi);
    }
    acc.b = -1; acc.lo = 0.0f; acc.hi = 0.0f;
}

// min and max of (lo, hi) over the warp (sm_80's redux); on the emulator over the block, whose
// shuffles need block-uniform trip counts (a wider range only adds empty buckets).
__device__ __forceinline__ void gr_tc_warp_range(u32& lo, u32& hi) {
#ifdef __CUDA_ARCH__
    lo = __reduce_min_sync(0xffffffffu, lo);
    hi = __reduce_max_sync(0xffffffffu, hi);
#else
    static std::atomic<u32> mn, mx;
    __syncthreads();
    if (threadIdx.x == 0) { mn = 0xffffffffu; mx = 0u; }
    __syncthreads();
    u32 x = mn.load();
    while (lo < x && !mn.compare_exchange_weak(x, lo)) {}
    x = mx.load();
    while (hi > x && !mx.compare_exchange_weak(x, hi)) {}
    __syncthreads();
    lo = mn.load(); hi = mx.load();
    __syncthreads();
#endif
}

// The warp's 16 keys × 32 queries (query columns i0 + 32·half + c, c < 32; key rows rowJ):
// s ← a = SiLU(s + bias), da ← ds = 2·da·SiLU'(s + bias) (0 where masked; the caller scales what
// it sums from a by 1/N and from ds by 1/(2N); the cells hold wTs/2, as in gr_tc_fwd_scores); ds summed into the
// wPos ring (per gap: the lane's 16 values fall on 10 gaps, summed in registers first) and into
// the wTs gradient (acc, dTsS). As in the forward, the values are computed without branches
// first (buckets kept as bytes), then masked, then summed. UNI: every element's bucket is ub or
// ub + 1 (|gap| ≥ theta; gr_tc_uniform_bucket, the tile is full): two branch-free sums into the
// warp's running sums (acc), moved when ub moves. Else the warp's buckets of nonzero ds span
// [lo, hi] (a few, as the query timestamps grow along a key row): one warp-uniform pass per
// bucket sums the lanes' elements of that bucket and adds the warp's sum with one lane.
template <bool FAST, bool UNI>
__device__ __forceinline__ void gr_tc_bwd_scores(float (&s)[4][4], float (&da)[4][4], bool full, const i64 (&rowJ)[2],
                                                 int half, i64 i0, i64 j0, i64 L, i64 hist, i64 ctx, const i64* tq,
                                                 const i64* tsK, const float* pws, const float* twS, const u64* tableS,
                                                 const uint4* cells, float invN, int warp, int g, int tg, float* ring,
                                                 double* dTsS, GrTcTsAcc& acc, int ub, u32 theta) {
    u32 buckets[4];
    (void)invN;
    // UNI: bucket ub, or ub + 1 where |gap| ≥ theta (upBits, bit 4n + e)
    const float tbh = UNI ? 0.5f * twS[ub] : 0.0f, tbh1 = UNI ? 0.5f * twS[ub + 1] : 0.0f;
    u32 upBits = 0;
    #pragma unroll
    for (int n = 0; n < 4; n++) {
        buckets[n] = 0;
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            const int x = e >> 1, c = 32 * half + 8 * n + 2 * tg + (e & 1), r = 16 * warp + g + 8 * x;
            // |T'q − Tk| = |Tk − T'q|: the bucket takes the magnitude
            int bucket = ub;
            bool up = false;
            if (UNI) {
                up = gr_tc_abs_gap((u32)tsK[r], ((const u32*)tq)[2 * c]) >= theta;
                upBits |= up ? 1u << (4 * n + e) : 0u;
            }
            const float twh = UNI ? (up ? tbh1 : tbh) : FAST ? gr_tc_time_weight<true>(tsK[r], tq, c, tableS, cells, twS, bucket)
                                               : 0.5f * gr_tc_time_weight<false>(tsK[r], tq, c, tableS, cells, twS, bucket);
            buckets[n] |= (u32)bucket << (8 * e);
            // h = v/2, t = tanh(h): SiLU(v) = h + h·t, 2·SiLU'(v) = (1 + t)(1 + h(1 − t))
            const float h = fmaf(s[n][e], 0.5f, fmaf(pws[r - c + 64], 0.5f, twh));
            const float t = gr_fast_tanh(h);
            s[n][e] = fmaf(h, t, h);
            da[n][e] = da[n][e] * (1.0f + t) * fmaf(h, 1.0f - t, 1.0f);
        }
    }
    if (!UNI && !full) {
        #pragma unroll
        for (int n = 0; n < 4; n++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const int j = (int)rowJ[e >> 1], i = (int)i0 + 32 * half + 8 * n + 2 * tg + (e & 1);
                if (!(i < (int)L && j < (int)L && gr_hstu_allowed32(i, j, (int)hist, (int)ctx))) { s[n][e] = 0.0f; da[n][e] = 0.0f; }
            }
        }
    }
    float gaps[5][2];
    #pragma unroll
    for (int u = 0; u < 5; u++) { gaps[u][0] = 0.0f; gaps[u][1] = 0.0f; }
    #pragma unroll
    for (int x = 0; x < 2; x++) {
        #pragma unroll
        for (int n = 0; n < 4; n++) {
            #pragma unroll
            for (int p = 0; p < 2; p++) {
                const int e = 2 * x + p;
                gaps[n - x + 1][p] += da[n][e];
            }
        }
    }
    if (UNI) {
        if (ub != acc.b) {   // warp-uniform: move the running sums to (ub, ub + 1)
            if (acc.b >= 0 && ub == acc.b + 1) {
                gr_tc_warp_add(dTsS, acc.b, acc.lo);
                acc.lo = acc.hi; acc.hi = 0.0f;
            } else {
                gr_tc_ts_flush(acc, dTsS);
            }
            acc.b = ub;
        }
        float lo = 0.0f, hi = 0.0f;
        #pragma unroll
        for (int n = 0; n < 4; n++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const bool up = (upBits >> (4 * n + e)) & 1u;
                lo += up ? 0.0f : da[n][e];
                hi += up ? da[n][e] : 0.0f;
            }
        }
        acc.lo += lo; acc.hi += hi;
#ifndef __CUDA_ARCH__
        gr_tc_ts_flush(acc, dTsS);   // the emulator: no warp-dependent shuffles in later calls
#endif
    } else {
        u32 lo = 0xffffffffu, hi = 0u;   // the buckets of nonzero ds
        #pragma unroll
        for (int n = 0; n < 4; n++) {
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const u32 bk = (buckets[n] >> (8 * e)) & 255u;
                lo = da[n][e] != 0.0f && bk < lo ? bk : lo;
                hi = da[n][e] != 0.0f && bk > hi ? bk : hi;
            }
        }
        gr_tc_warp_range(lo, hi);
        for (u32 bb = lo; bb <= hi; bb++) {   // warp-uniform
            float v = 0.0f;
            #pragma unroll
            for (int n = 0; n < 4; n++) {
                #pragma unroll
                for (int e = 0; e < 4; e++) v += ((buckets[n] >> (8 * e)) & 255u) == bb ? da[n][e] : 0.0f;
            }
            if (acc.b >= 0 && (int)bb == acc.b) acc.lo += v;
            else if (acc.b >= 0 && (int)bb == acc.b + 1) acc.hi += v;
            else gr_tc_warp_add(dTsS, (int)bb, v);
        }
    }
    // gap i − j of (n, x, p) = i0 + 32·half + 8n + 2tg + p − (j0 + 16·warp + g + 8x) = k + 8(u − 1) + p,
    // u = n − x + 1, k = o + i0 + 32·half − j0 − 16·warp with o = 2·tg − g. (1) Lanes with the same
    // o hold the same gaps: each chain lane, lane + 9 (tg + 1, g + 2), + 18, + 27 is summed into its
    // head lane (tg = 0 or g < 2: the 14 distinct o in [−7, 6]) by two shuffles per value, all
    // independent. (2) Gap o + 8(u − 1) + p is also gap (o − 8) + 8u + p: the heads with o in
    // [1, 6] (g < 2, tg ≥ 1) take the u + 1 values of the head with o − 8 (tg = 0, g = 8 − o), which
    // keeps only its u = 0. Then for each p the heads' (u, address) are all distinct, so that each
    // p is one batch of loads, adds and stores into the warp's ring (plain adds, no atomics) and
    // one __syncwarp, instead of a read-add-write chain with a __syncwarp per value.
    const i64 k = i0 + 32 * half + 2 * tg - (j0 + 16 * warp + g);
    const bool next9 = tg <= 2 && g <= 5, next18 = tg <= 1 && g <= 3, head = tg == 0 || g < 2;
    const bool recv = g < 2 && tg >= 1, send = tg == 0 && g >= 2;
    const int lane = (int)threadIdx.x & 31, src = recv ? 4 * (8 - (2 * tg - g)) : lane;
    #pragma unroll
    for (int u = 0; u < 5; u++) {
        #pragma unroll
        for (int p = 0; p < 2; p++) {
            const float w9 = __shfl_down_sync(0xffffffffu, gaps[u][p], 9);
            gaps[u][p] += next9 ? w9 : 0.0f;
        }
    }
    #pragma unroll
    for (int u = 0; u < 5; u++) {
        #pragma unroll
        for (int p = 0; p < 2; p++) {
            const float w18 = __shfl_down_sync(0xffffffffu, gaps[u][p], 18);
            gaps[u][p] += next18 ? w18 : 0.0f;
        }
    }
    #pragma unroll
    for (int u = 0; u < 4; u++) {
        #pragma unroll
        for (int p = 0; p < 2; p++) {
            const float w = __shfl_sync(0xffffffffu, gaps[u + 1][p], src);
            gaps[u][p] += recv ? w : 0.0f;
        }
    }
    #pragma unroll
    for (int p = 0; p < 2; p++) {
        if (head) {
            float r[5];
            #pragma unroll
            for (int u = 0; u < 5; u++) if (u == 0 || !send) r[u] = ring[(k + 8 * (u - 1) + p) & 255];
            #pragma unroll
            for (int u = 0; u < 5; u++) if (u == 0 || !send) ring[(k + 8 * (u - 1) + p) & 255] = r[u] + gaps[u][p];
        }
#ifdef __CUDA_ARCH__
        __syncwarp();
#else
        __syncthreads();   // the emulator's warp barrier (every thread of the block gets here)
#endif
    }
}

// The backward's common arguments (both kernels); items: key blocks (gr_hstu_tc_bwd) or query
// blocks (gr_hstu_tc_bwd_dq) as in the forward; flags as in the forward.
#define GR_TC_BWD_PARAMS const u16* qb, const u16* kb, const u16* vb, const u16* gb, const int* offsets, const int* items, \
    const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, \
    i64 dqk, i64 dv, i64 N, i64 targets, i64 ctx, i64 rs
#define GR_TC_BWD_ARGS qb, kb, vb, gb, offsets, items, flags, ts, pw, tw, table, table32, T, H, dqk, dv, N, targets, ctx, rs

// grid (key items, H), block 128: 64 keys per CTA, 16 per warp, query tiles of 64 (double-buffered)
// taken in two halves of 32 (fewer live scores). dk, dV (T rows, stride rs; head h at h·dqk /
// h·dv) overwritten for the block's keys; dpw (2N − 1), dtw (129) +=.
template <int DP>
__device__ __forceinline__ void gr_hstu_tc_bwd(GR_TC_BWD_PARAMS, float* dk, float* dV, float* dpw, float* dtw) {
    extern __shared__ float smem[];
    u16* sK = (u16*)smem;                    // [64][DP]
    u16* sV = sK + GR_TC_TILE * DP;          // [64][DP]
    u16* sQ = sV + GR_TC_TILE * DP;          // [2][64][DP]
    u16* sG = sQ + 2 * GR_TC_TILE * DP;      // [2][64][DP]  (dO)
    i64* tsQ = (i64*)(sG + 2 * GR_TC_TILE * DP);           // [2][64]: T'[i + 1]
    i64* tsK = tsQ + 2 * GR_TC_TILE;                        // [64]
    // ldmatrix offsets (gr_swz_offs): K/V rows (A operands), Q/dO rows (B of K Qᵀ; trans: of Aᵀ dO)
    const int lane_ = (int)threadIdx.x & 31;
    const GrSwzOffs<DP> kOffA = gr_swz_offs<DP>(16 * ((int)threadIdx.x >> 5) + (lane_ & 15), lane_ >> 4);
    const GrSwzOffs<DP> qOffB = gr_swz_offs<DP>((lane_ & 7) + ((lane_ >> 4) << 3), (lane_ >> 3) & 1);
    const GrSwzOffs<DP> qOffT = gr_swz_offs<DP>((lane_ & 7) + ((lane_ >> 3) & 1) * 8, lane_ >> 4);
    const u32 sKa = gr_smem_addr(sK), sVa = gr_smem_addr(sV), sQa = gr_smem_addr(sQ), sGa = gr_smem_addr(sG);
    float* pwS = (float*)(tsK + GR_TC_TILE);               // [2][128]
    float* twS = pwS + 256;                                 // [132]
    u64* tableS = (u64*)(twS + 132);                        // [256]
    double* dTsS = (double*)(tableS + 256);                 // [132] f64, in the 132 + 256 floats of
    uint4* t32 = (uint4*)((float*)dTsS + 132 + 256);        // [64]    the f32 dTs and the old ring

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, tg = lane & 3;
    const GrTcItem it = gr_tc_item(items, offsets, flags, targets);
    const i64 b = it.b, kblock = it.block, base = it.base, L = it.L, hist = it.hist, h = blockIdx.y;
    const bool fast = it.fast;
    const i64 j0 = kblock * GR_TC_TILE;
    const int qtiles = (int)((L + GR_TC_TILE - 1) / GR_TC_TILE);
    const u16* qh = qb + h * T * DP + base * DP;
    const u16* kh = kb + h * T * DP + base * DP;
    const u16* vh = vb + h * T * DP + base * DP;
    const u16* gh = gb + h * T * DP + base * DP;
    const i64* tsb = ts + b * N;
    const float invN = 1.0f / (float)N;

    // the query tiles that hold an allowed pair with this key block, in increasing order
    int first = ctx > 0 ? 0 : (int)kblock;
    #define GR_TC_NEEDED(qt) (!((ctx > 0 && (i64)(qt) * GR_TC_TILE >= ctx && (i64)(qt) * GR_TC_TILE + GR_TC_TILE <= j0) \
                               || (j0 >= hist && (qt) != kblock)))
    while (first < qtiles && !GR_TC_NEEDED(first)) first++;

    __shared__ uint4 cells[GR_TC_CELLS];   // read after the loop's first barrier
    gr_tc_build_cells(cells, table32, tw, 0.5f);   // wTs/2 (gr_tc_bwd_scores)
    gr_tc_load_bias_tables(tableS, t32, twS, table, table32, tw);
    const float dsScale = 0.5f * invN;   // gr_tc_bwd_scores' ds is 2N times the gradient, its a N times
    __shared__ float rings[4 * 256];   // per warp: dPos by gap & 255
    float* ring = rings;
    for (int x = tid; x < 4 * 256; x += GR_TC_THREADS) ring[x] = 0.0f;
    for (int x = tid; x < 132; x += GR_TC_THREADS) dTsS[x] = 0.0;
    gr_tc_load_key_ts(tsK, tsb, j0, L);
    gr_tc_load_tile<DP>(sK, kh, j0, L);
    gr_tc_load_tile<DP>(sV, vh, j0, L);
    if (first < qtiles) {
        const i64 i0 = (i64)first * GR_TC_TILE;
        gr_tc_load_tile<DP>(sQ, qh, i0, L);
        gr_tc_load_tile<DP>(sG, gh, i0, L);
        gr_tc_load_query_ts(tsQ, tsb, i0, L, N);
        gr_tc_load_pos(pwS, pw, i0, j0, N);
    }
    gr_cp_async_commit();

    // this lane's two key rows: j0 + 16·warp + g (+ 8)
    i64 rowJ[2];
    #pragma unroll
    for (int x = 0; x < 2; x++) rowJ[x] = j0 + 16 * warp + g + 8 * x;
    float accK[DP / 8][4], accV[DP / 8][4];
    #pragma unroll
    for (int n = 0; n < DP / 8; n++) for (int e = 0; e < 4; e++) { accK[n][e] = 0.0f; accV[n][e] = 0.0f; }
    GrTcTsAcc tsAcc = {-1, 0.0f, 0.0f};   // the wTs gradient's running sums (gr_tc_bwd_scores)
    // the warp's key timestamps relative to T[b, 0] (gr_tc_uniform_bucket), once tsK has landed
    const u32 t0 = (u32)tsb[0];
    GrTcSpan kspan = {0, 0};
    bool kspanReady = false;
    i64 flushedTo = (i64)first * GR_TC_TILE - j0 - GR_TC_TILE;   // every gap ≤ flushedTo is in dpw already
    int buf = 0;

    for (int qt = first; qt < qtiles; ) {
        const i64 i0 = (i64)qt * GR_TC_TILE;
        int next = qt + 1;
        while (next < qtiles && !GR_TC_NEEDED(next)) next++;
        if (next < qtiles) {   // prefetch the next query tile
            const i64 in = (i64)next * GR_TC_TILE;
            gr_tc_load_tile<DP>(sQ + (buf ^ 1) * GR_TC_TILE * DP, qh, in, L);
            gr_tc_load_tile<DP>(sG + (buf ^ 1) * GR_TC_TILE * DP, gh, in, L);
            gr_tc_load_query_ts(tsQ + (buf ^ 1) * GR_TC_TILE, tsb, in, L, N);
            gr_tc_load_pos(pwS + (buf ^ 1) * 128, pw, in, j0, N);
            gr_cp_async_commit();
            gr_cp_async_wait<1>();
        } else {
            gr_cp_async_wait<0>();
        }
        // pending ring entries (gaps flushedTo+1 .. flushedTo+63) must not alias this tile's gaps
        if (i0 - j0 + 63 - (flushedTo + 1) >= 256) {
            gr_tc_flush_ring(ring, flushedTo + 1, flushedTo + 63, N, dpw, dsScale);
            flushedTo = i0 - j0 - 64;
        }
        __syncthreads();
        const u16* Q = sQ + buf * GR_TC_TILE * DP;
        const u16* G = sG + buf * GR_TC_TILE * DP;
        const u32 Qa = sQa + buf * GR_TC_TILE * DP * 2, Ga = sGa + buf * GR_TC_TILE * DP * 2;
        const bool full = gr_hstu_tile_full(i0, j0, L, hist, ctx);
        const i64* tq = tsQ + buf * GR_TC_TILE;
        if (!kspanReady) {   // block-uniform (the shuffles); rows g, g + 8 of the warp's 16 keys
            const u32* tk32 = (const u32*)tsK;   // low words
            const int c0 = (int)(tk32[2 * (16 * warp + g)] - t0), c1 = (int)(tk32[2 * (16 * warp + g + 8)] - t0);
            kspan = gr_tc_span_reduce({c0 < c1 ? c0 : c1, c0 < c1 ? c1 : c0}, 4, 16);
            kspanReady = true;
        }
        const float* pws = pwS + buf * 128;
        #pragma unroll 1
        for (int half = 0; half < 2; half++) {
            // Sᵀ = K Qᵀ and dAᵀ = V dOᵀ (16 keys × 32 queries per warp)
            float s[4][4], da[4][4];
            #pragma unroll
            for (int n = 0; n < 4; n++) for (int e = 0; e < 4; e++) { s[n][e] = 0.0f; da[n][e] = 0.0f; }
            #pragma unroll
            for (int kk = 0; kk < DP / 16; kk++) {
                u32 ka[4], va[4];
                gr_ldsm<false>(ka, sK, sKa, gr_swz_at<DP>(kOffA, kk, 0));
                gr_ldsm<false>(va, sV, sVa, gr_swz_at<DP>(kOffA, kk, 0));
                #pragma unroll
                for (int np = 0; np < 2; np++) {
                    u32 r[4];
                    gr_ldsm<false>(r, Q, Qa, gr_swz_at<DP>(qOffB, kk, 2 * half + np));
                    gr_mma(s[2 * np], ka, r);
                    gr_mma(s[2 * np + 1], ka, r + 2);
                    gr_ldsm<false>(r, G, Ga, gr_swz_at<DP>(qOffB, kk, 2 * half + np));
                    gr_mma(da[2 * np], va, r);
                    gr_mma(da[2 * np + 1], va, r + 2);
                }
            }
            // a = SiLU(s)/N and ds = dA·SiLU'(s)/N in place (s ← a, da ← ds); bias gradients
            int ub = -1;
            u32 theta = 0xffffffffu;
            if (fast && full) {   // block-uniform condition (the shuffles): this half's 32 queries, one per lane
                const int a = (int)((u32)tq[32 * half + lane] - t0);
                ub = gr_tc_uniform_bucket(gr_tc_span_reduce({a, a}, 1, 16), kspan, t32, theta);
            }
#ifndef __CUDA_ARCH__
            {   // the emulator: one path for the whole block (the paths' shuffles differ in number)
                u32 lo = ub < 0 ? 1u : 0u, hi = lo;
                gr_tc_warp_range(lo, hi);
                if (hi != 0u) ub = -1;
            }
#endif
            if (ub >= 0) gr_tc_bwd_scores<true, true>(s, da, full, rowJ, half, i0, j0, L, hist, ctx, tq, tsK, pws, twS, tableS,
                                                      cells, invN, warp, g, tg, ring + 256 * warp, dTsS, tsAcc, ub, theta);
            else if (fast) gr_tc_bwd_scores<true, false>(s, da, full, rowJ, half, i0, j0, L, hist, ctx, tq, tsK, pws, twS,
                                                         tableS, cells, invN, warp, g, tg, ring + 256 * warp, dTsS, tsAcc, ub, theta);
            else gr_tc_bwd_scores<false, false>(s, da, full, rowJ, half, i0, j0, L, hist, ctx, tq, tsK, pws, twS, tableS, cells,
                                                invN, warp, g, tg, ring + 256 * warp, dTsS, tsAcc, ub, theta);
            // dV += aᵀ dO, dK += dsᵀ Q (A operands from registers)
            #pragma unroll
            for (int kk = 0; kk < 2; kk++) {
                u32 pa[4], pd[4];
                gr_tc_afrag<4>(pa, s, kk);
                gr_tc_afrag<4>(pd, da, kk);
                #pragma unroll
                for (int dp = 0; dp < DP / 16; dp++) {
                    u32 r[4];
                    gr_ldsm<true>(r, G, Ga, gr_swz_at<DP>(qOffT, dp, 2 * half + kk));
                    gr_mma(accV[2 * dp], pa, r);
                    gr_mma(accV[2 * dp + 1], pa, r + 2);
                    gr_ldsm<true>(r, Q, Qa, gr_swz_at<DP>(qOffT, dp, 2 * half + kk));
                    gr_mma(accK[2 * dp], pd, r);
                    gr_mma(accK[2 * dp + 1], pd, r + 2);
                }
            }
        }
        __syncthreads();   // this tile's buffers and the ring are reused next
        gr_tc_flush_ring(ring, flushedTo + 1, i0 - j0, N, dpw, dsScale);
        if (i0 - j0 > flushedTo) flushedTo = i0 - j0;
        buf ^= 1;
        qt = next;
    }
    #undef GR_TC_NEEDED
    gr_cp_async_wait<0>();
    gr_tc_ts_flush(tsAcc, dTsS);
    __syncthreads();
    gr_tc_flush_ring(ring, flushedTo + 1, flushedTo + 127, N, dpw, dsScale);
    for (int x = tid; x < 129; x += GR_TC_THREADS) if (dTsS[x] != 0.0) atomicAdd(dtw + x, (float)(dTsS[x] * dsScale));
    #pragma unroll
    for (int n = 0; n < DP / 8; n++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            const i64 j = rowJ[e >> 1], d = 8 * n + 2 * tg + (e & 1);
            if (j < L && d < dqk) dk[(base + j) * rs + h * dqk + d] = accK[n][e] * dsScale;
            if (j < L && d < dv) dV[(base + j) * rs + h * dv + d] = accV[n][e] * invN;
        }
    }
}

// (the entry points spell the parameters out: the emulator's generator reads them)
extern "C" __global__ void gr_hstu_tc_bwd_d32(const u16* qb, const u16* kb, const u16* vb, const u16* gb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dqk, i64 dv, i64 N, i64 targets, i64 ctx, i64 rs, float* dk, float* dV, float* dpw, float* dtw) {
    gr_hstu_tc_bwd<32>(GR_TC_BWD_ARGS, dk, dV, dpw, dtw);
}
extern "C" __global__ void gr_hstu_tc_bwd_d64(const u16* qb, const u16* kb, const u16* vb, const u16* gb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dqk, i64 dv, i64 N, i64 targets, i64 ctx, i64 rs, float* dk, float* dV, float* dpw, float* dtw) {
    gr_hstu_tc_bwd<64>(GR_TC_BWD_ARGS, dk, dV, dpw, dtw);
}
extern "C" __global__ void gr_hstu_tc_bwd_d128(const u16* qb, const u16* kb, const u16* vb, const u16* gb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dqk, i64 dv, i64 N, i64 targets, i64 ctx, i64 rs, float* dk, float* dV, float* dpw, float* dtw) {
    gr_hstu_tc_bwd<128>(GR_TC_BWD_ARGS, dk, dV, dpw, dtw);
}
extern "C" __global__ void gr_hstu_tc_bwd_dq_d32(const u16* qb, const u16* kb, const u16* vb, const u16* gb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dqk, i64 dv, i64 N, i64 targets, i64 ctx, i64 rs, float* dq) {
    gr_hstu_tc_qblock<32, true>(qb, kb, vb, gb, offsets, items, flags, ts, pw, tw, table, table32, T, H, dqk, N, targets, ctx, rs, dq);
}
extern "C" __global__ void gr_hstu_tc_bwd_dq_d64(const u16* qb, const u16* kb, const u16* vb, const u16* gb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dqk, i64 dv, i64 N, i64 targets, i64 ctx, i64 rs, float* dq) {
    gr_hstu_tc_qblock<64, true>(qb, kb, vb, gb, offsets, items, flags, ts, pw, tw, table, table32, T, H, dqk, N, targets, ctx, rs, dq);
}
extern "C" __global__ void gr_hstu_tc_bwd_dq_d128(const u16* qb, const u16* kb, const u16* vb, const u16* gb, const int* offsets, const int* items, const int* flags, const i64* ts, const float* pw, const float* tw, const u64* table, const uint4* table32, i64 T, i64 H, i64 dqk, i64 dv, i64 N, i64 targets, i64 ctx, i64 rs, float* dq) {
    gr_hstu_tc_qblock<128, true>(qb, kb, vb, gb, offsets, items, flags, ts, pw, tw, table, table32, T, H, dqk, N, targets, ctx, rs, dq);
}
