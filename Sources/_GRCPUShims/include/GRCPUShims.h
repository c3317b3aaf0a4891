#ifndef GR_CPU_SHIMS_H
#define GR_CPU_SHIMS_H

/// 1 when the CPU and the OS support the AVX-512 subsets the AVX-512 GEMM kernel is compiled for
/// (F, VL, BW, DQ, CD: `-target-cpu skylake-avx512`), else 0. Always 0 off x86-64.
int gr_cpu_supports_avx512(void);

/// 1 when the CPU supports AVX2 and FMA (the Haswell floor of the x86-64 build), else 0.
int gr_cpu_supports_avx2_fma(void);

/// Prefetches the cache line holding `p` for writing, into all cache levels (`prefetchw` /
/// `prefetcht0`). Inlined into Swift callers (the GEMM kernels prefetch their C tile before the
/// k loop, so its cache misses overlap the multiply instead of stalling the write-out).
static inline void gr_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Prefetches the cache line holding `p` for reading, into all cache levels (`prefetcht0`). The GEMM
/// packing of a transposed A (K × M stored, read in short runs of rows `lda` apart, each in its
/// own page, where the hardware prefetcher does not follow) fetches rows a few iterations ahead.
static inline void gr_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }


#include <stdint.h>

/// 1 when the CPU and OS support AVX-512 F/BW/VL and AVX-512 BF16 (`vdpbf16ps`), else 0 (always 0
/// off x86-64). Gates `gr_bf16_gemm`.
int gr_cpu_supports_avx512_bf16(void);

/// uint16 elements of B̂, the bf16 packing of a (K, N) right operand: ⌈K/2⌉ pairs of rows ×
/// N rounded up to 16 columns × 2.
long gr_bf16_packed_count(int k, int n);

/// Packs op(W) (K, N) — W (K, N) row-major, or W (N, K) row-major when `transposed` — into B̂:
/// element (p·N16 + j)·2 + e = bf16(op(W)[2p + e][j]) (round to nearest even; zeros past K and N).
void gr_bf16_pack_b(const float *w, int k, int n, int transposed, uint16_t *dst);

/// x[i] ← SiLU(x[i]) = x[i] / (1 + e^(−x[i])), i < n, on AVX-512 F. Call only when
/// `gr_cpu_supports_avx512()` is 1 (does nothing off x86-64).
void gr_silu_avx512(float *x, long n);

/// C (M, N) = A (M, K)·B (+ C when `accumulate`), A rounded to bf16 on the fly, B̂ from
/// `gr_bf16_pack_b`, float32 accumulation (`vdpbf16ps`). K ≤ 1024. Call only when
/// `gr_cpu_supports_avx512_bf16()` is 1 (does nothing off x86-64).
void gr_bf16_gemm(int m, int n, int k, const float *a, int lda, const uint16_t *b, float *c, int ldc, int accumulate);


/// One entry of `TimeBucket.table` (GRCore; same layout as the Swift struct): the bucket of 2^e
/// and the up to three thresholds in (2^e, 2^(e+1)) where it grows by one.
typedef struct { int32_t base; uint64_t t1, t2, t3; } gr_time_bucket_entry;

/// Bytes of `gr_hstu_buckets` for a sequence of L rows: one 32×32 byte tile per (query block,
/// key tile ≤ it), ⌈L/32⌉·(⌈L/32⌉ + 1)/2 tiles.
long gr_hstu_bucket_bytes(int L);

/// The time bucket (spec §2.3) of every causal (query i, key j) pair of one sequence, as the
/// transposed tiles of `gr_hstu_infer_attention_avx2`: tile (block, kb) at
/// (block·(block + 1)/2 + kb)·1024, byte c·32 + r = bucket(ts[i + 1] − ts[j]) for i = i0 + r ≥
/// j = j0 + c, 0 elsewhere. ts: L + 1 timestamps (the history, then the target slot). table:
/// `TimeBucket.table` (64 entries); thresholds: `TimeBucket.thresholds` (130: bucket(m) is the
/// largest k with thresholds[k] ≤ m), checked first around the previous pair's bucket.
void gr_hstu_buckets(const int64_t *ts, int L, const gr_time_bucket_entry *table, const uint64_t *thresholds, uint8_t *out);

/// x[i] ← SiLU(x[i]) on AVX2 + FMA (8 lanes, the Cephes e^x, 1/(1 + e^−x) by `vrcpps` and one
/// Newton step). Call only when `gr_cpu_supports_avx2_fma()` is 1 (does nothing off x86-64).
void gr_silu_avx2(float *x, long n);

/// Flags of `gr_sgemm_small_avx2`: C += A·W instead of C = A·W; SiLU of the result.
#define GR_SGEMM_ACCUMULATE 1
#define GR_SGEMM_SILU 2

/// C (m, n) = A (m, k; rows lda apart)·W (k, n; rows ldw apart, row-major) (+ C with
/// GR_SGEMM_ACCUMULATE), then x·σ(x) of every result with GR_SGEMM_SILU; C rows ldc apart, read
/// only with GR_SGEMM_ACCUMULATE. For small k (W panels of 16 columns × k stay in L1): the serving
/// forward's layer products (small_gemm_avx2.c). AVX2 + FMA: call only when
/// `gr_cpu_supports_avx2_fma()` is 1 (does nothing off x86-64).
void gr_sgemm_small_avx2(const float *a, long lda, const float *w, long ldw, long m, long n, int k, float *c,
                         long ldc, int flags);

/// The int16 layer products (small_gemm_i16_avx2.c, `--precision int16`): int16 count of the
/// packed op(W) of n columns, k ≤ 128 rows: ⌈n/16⌉·16·(k rounded up to even).
long gr_i16_packed_count(long n, int k);

/// Quantises W (k ≤ 128, n; rows ldw apart) per column (s_j = max|w_·j|/4095, ŵ = round(w/s_j)) into
/// `packed` (`gr_i16_packed_count(n, k)` int16) and `scales` (n rounded up to 16 floats). Returns 0,
/// or −1 when W holds a NaN or ∞ (then nothing is usable).
int gr_i16_pack(const float *w, long ldw, long n, int k, int16_t *packed, float *scales);

/// C (m, n) = A (m, k ≤ 128; rows lda apart)·W by `vpmaddwd` on A quantised per row (int16, 13 bits)
/// and W packed by `gr_i16_pack` (`packed`, `scales`), then + C (GR_SGEMM_ACCUMULATE) or SiLU
/// (GR_SGEMM_SILU; not both) as `gr_sgemm_small_avx2`. Rows of A with a NaN or ∞ are computed in
/// f32 by `gr_sgemm_small_avx2` on `w` (the f32 W, rows ldw apart). AVX2: call only when
/// `gr_cpu_supports_avx2_fma()` is 1 (does nothing off x86-64).
void gr_i16gemm_avx2(const float *a, long lda, const int16_t *packed, const float *scales, const float *w,
                     long ldw, long m, long n, int k, float *c, long ldc, int flags);

/// out[j] = q·k_j for j < count, d floats each, key rows `stride` apart (the incremental encoders'
/// attention scores, row_scores_avx2.c; 8 keys per step). Reads no float past q[d − 1] or a key's
/// d − 1. AVX2 + FMA: call only when `gr_cpu_supports_avx2_fma()` is 1 (does nothing off x86-64).
void gr_row_scores_avx2(const float *q, const float *k, long stride, int count, int d, float *out);

/// Per row r < rows: μ = Σ_c x/C, rstd = 1/√(Σ_c (x − μ)²/C + eps), out = (x − μ)·rstd, times u
/// when u is not NULL (C = cols; x, u, out rows ldx, ldu, ldo apart; mean[r], rstd[r] written): the
/// serving forward's LayerNorms (layernorm_avx2.c). AVX2 + FMA: call only when
/// `gr_cpu_supports_avx2_fma()` is 1 (does nothing off x86-64).
void gr_layernorm_rows_avx2(const float *x, long ldx, const float *u, long ldu, float *out, long ldo,
                            float *mean, float *rstd, long rows, int cols, float eps);

/// Floats of scratch `gr_hstu_infer_attention_avx2` needs.
long gr_hstu_infer_scratch_floats(int heads, int dqk, int dv);

/// HSTU attention forward of one sequence of L rows, all heads (spec §2.2–2.3): out[i][h·dv + x] =
/// Σ_{j ≤ i} SiLU(q_i·k_j + wPos[N − 1 + j − i] + wTs[bucket_ij]) / N · v_j[x], q/k/v rows `stride`
/// apart (head h at h·dqk, h·dv), out rows `outStride` apart. buckets: `gr_hstu_buckets`; posRev:
/// wPos reversed with 32 zeros on each side (posRev[32 + x] = wPos[2N − 2 − x]); wTs: 129 weights.
/// AVX2 + FMA: call only when `gr_cpu_supports_avx2_fma()` is 1 (does nothing off x86-64).
void gr_hstu_infer_attention_avx2(const float *q, const float *k, const float *v, long stride, int L, int heads,
                                  int dqk, int dv, const uint8_t *buckets, const float *posRev, int n,
                                  const float *wTs, float *out, long outStride, float *scratch);

/// The int8 retrieval scan (retrieval_i8_avx2.c, GRInference `Int8Items`; AVX2 — call only when
/// `gr_cpu_supports_avx2_fma()` is 1). Scans the pairs of 16-item blocks (32 items) begin ..< end:
/// - `items`: (pairs, g2, 32, 2) uint8 x̂ + 64 (pair p at items + p·g2·64); `scales`: per item s_x;
///   `pairInv`: per pair 1/max s_x over its group of 8 pairs (8g ..< 8g + 8), rounded down (finite);
/// - `queries`: (q, g2, 32) int8, per coordinate pair c the bytes (q̂_2c, q̂_2c+1) 16 times; `qbias`:
///   per query −64·Σq̂ mod 2¹⁶; `qscale`: s_q; `qinv`: (1/s_q)·(1 − 2⁻¹⁰), rounded down (finite);
/// - a score a = fl(fl(Float(Σ q̂·x̂)·s_x)·s_q) of query j is a hit when a > thresholds[j];
/// - `limits`: q int16 of scratch.
/// Returns the first pair p with a hit (then hits[j] = 1 for each query j with one — the caller
/// resets them — and scratch row j, 32 floats, holds its scores for items 32p..<32p+32), or `end`.
long gr_retrieval_i8_scan(const uint8_t *items, const float *scales, const float *pairInv, long begin, long end,
                          int g2, const int8_t *queries, const int16_t *qbias, const float *qscale, const float *qinv,
                          int q, const float *thresholds, int16_t *limits, float *scratch, uint8_t *hits);

#if defined(__x86_64__)
#include <immintrin.h>
/// 16 Float16 values at `p` (unaligned) widened to Float (`vcvtph2ps`; Swift sees a
/// SIMD16<Float>). Swift's own SIMD16<Float16> → SIMD16<Float> conversion is a generic call when it
/// is not inlined, which the retrieval tiles cannot afford per load. AVX-512F: call only from
/// code compiled for it, after gr_cpu_supports_avx512() said yes (module GRCPUAVX512).
__attribute__((target("avx512f"), always_inline))
static inline __m512 gr_load_half16(const void *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
#endif

#endif
