// The serving forward's layer products in int16 (`--precision int16`, docs/inference.md "Reduced
// precision"): C (M, N) = A (M, K)·W (K, N) with K ≤ 128, AVX2 `vpmaddwd` (16 int16 products a
// vector, 2 vectors a cycle on Zen 3: twice the f32 FMA rate) into int32.
//
// - W: quantised once at load per column j, symmetric, s_j = max_k |w_kj| / Q, ŵ = round(w / s_j),
//   packed by `gr_i16_pack` in 16-column panels of K/2 coordinate pairs (the `vpmaddwd` layout:
//   column j's pair (ŵ_2p,j, ŵ_2p+1,j) in one 32-bit lane), zero-padded to even K and whole panels.
// - A: per row on the fly, s_r = max_k |a_rk| / Q, â = round(a / s_r) (nearest even), a row block of
//   24 rows at a time into a stack buffer; per pair of k a 6 × 16 tile runs 2 W loads, 6 broadcast
//   loads of a row's pair (â_2p, â_2p+1), 12 `vpmaddwd` and 12 `vpaddd`. (Storing every pair
//   pre-broadcast to 32 bytes, for `vpmaddwd` memory operands, measured no faster at N = 200 and
//   10% slower at N = 50: the expansion costs as much as it saves.)
// - C = Σ_k â·ŵ (int32, exact) · s_r · s_j, then `+ C` / SiLU as `gr_sgemm_small_avx2` does.
//
// Overflow bound: |â|, |ŵ| ≤ Q = 4095 (13-bit values), K ≤ 128 (even after padding), so every
// partial sum of `vpmaddwd` pairs and of the int32 accumulator is at most
// 128 · 4095² = 2 146 435 200 < 2³¹ − 1 = 2 147 483 647: no wrap for any input (tested with ±max
// inputs, `Int16GEMMTests.testOverflowBoundWithAdversarialInputs`).
//
// Error: each quantised value is off by at most half a step, s/2, relative to its row's (column's)
// max 1/(2Q) = 2⁻¹³; a product's error relative to max|a_r|·max|w_j|·K is ≤ 2·2⁻¹³ = 2⁻¹² (and
// ≈ 2⁻¹³/√3·√K-like in practice: the rounding errors are independent), the order of TF32's 2⁻¹¹
// unit rounding.
//
// A row with a non-finite value (max|a_r| NaN or ∞) is computed in f32 instead
// (`gr_sgemm_small_avx2` on the f32 W), so NaN/∞ propagate as in f32; its int16 tile is run with
// scale 0 (writes 0, or adds 0 to C), then overwritten or accumulated by the f32 row.
#include "GRCPUShims.h"
#include <math.h>
#include <string.h>

#define GR_I16_Q 4095
/// Rows quantised per block (24 rows × 128 int16 = 6 KiB of stack; with HSTU-large's 20 KiB of
/// packed W_uvqk within L1's 32 KiB).
#define GR_I16_ROWS 24
/// Row stride of the quantised block (K ≤ 128, padded).
#define GR_I16_LDQ 128

long gr_i16_packed_count(long n, int k) { return (n + 15) / 16 * 16 * ((k + 1) / 2 * 2); }

int gr_i16_pack(const float *w, long ldw, long n, int k, int16_t *packed, float *scales) {
    const int pairs = (k + 1) / 2;
    const long panels = (n + 15) / 16;
    memset(packed, 0, sizeof(int16_t) * gr_i16_packed_count(n, k));
    memset(scales, 0, sizeof(float) * panels * 16);
    for (long j = 0; j < n; j++) {
        float mx = 0;
        for (int p = 0; p < k; p++) {
            const float v = w[(long)p * ldw + j];
            if (!isfinite(v)) return -1;
            mx = fmaxf(mx, fabsf(v));
        }
        scales[j] = mx / GR_I16_Q;
        const float inv = mx > 0 ? GR_I16_Q / mx : 0;
        // Panel j/16, half (j%16)/8, lane j%8: pair p at int16 offset p·32 + half·16 + lane·2.
        int16_t *col = packed + (j / 16) * (long)pairs * 32 + (j % 16) / 8 * 16 + (j % 8) * 2;
        for (int p = 0; p < k; p++) {
            float q = rintf(w[(long)p * ldw + j] * inv);
            q = fminf(fmaxf(q, -GR_I16_Q), GR_I16_Q);
            col[(p / 2) * 32 + (p % 2)] = (int16_t)q;
        }
    }
    return 0;
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "silu_avx2.h"

/// Lanes x < n set (n may be ≤ 0 or ≥ 8).
GR_AVX2 static inline __m256i gr_i16_lanes_below(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// Quantises row a (k floats) into q (k rounded up to 16, zero-padded); returns s_r = max|a|/Q,
/// or NaN when the row holds a NaN or ∞ (q is then all 0).
GR_AVX2 static float gr_i16_quantize_row(const float *a, int k, int16_t *q) {
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int p = 0; p < k; p += 8) {
        __m256 v = _mm256_and_ps(_mm256_maskload_ps(a + p, gr_i16_lanes_below(k - p)), absMask);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, _mm256_set1_ps(INFINITY), _CMP_NLT_UQ));   // NaN or ∞
        mx = _mm256_max_ps(mx, v);
    }
    const int kq = (k + 15) & ~15;
    if (_mm256_movemask_ps(bad)) {
        memset(q, 0, sizeof(int16_t) * kq);
        return NAN;
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float m = _mm_cvtss_f32(m4);
    const __m256 inv = _mm256_set1_ps(m > 0 ? GR_I16_Q / m : 0);
    for (int p = 0; p < kq; p += 16) {
        // Lanes past k load as 0. |a·inv| ≤ Q(1 + 2⁻²³) rounds to ≤ Q: no saturation.
        __m256i lo = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_maskload_ps(a + p, gr_i16_lanes_below(k - p)), inv));
        __m256i hi = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_maskload_ps(a + p + 8, gr_i16_lanes_below(k - p - 8)), inv));
        // packs works per 128-bit lane: (lo0-3, hi0-3, lo4-7, hi4-7) → reorder the 64-bit quarters.
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xd8);
        _mm256_storeu_si256((__m256i *)(q + p), packed);
    }
    return m / GR_I16_Q;
}

/// Rows R (1...6) × H 8-column halves (1 or 2) of C at c from the quantised rows aq (GR_I16_LDQ
/// apart, scales rs) and the panel wp (pairs × 32 int16, column scales cs: 16 floats);
/// `masked`: only columns < nc exist in C.
__attribute__((always_inline)) GR_AVX2 static inline void
gr_i16_tile(const int R, const int H, const int masked, const int16_t *aq, const float *rs, const int16_t *wp,
            const float *cs, int pairs, float *c, long ldc, int nc, int flags) {
    __m256i acc[6][2];
    for (int r = 0; r < R; r++) for (int h = 0; h < H; h++) acc[r][h] = _mm256_setzero_si256();
    for (int p = 0; p < pairs; p++) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)(wp + p * 32));
        const __m256i b1 = H == 2 ? _mm256_loadu_si256((const __m256i *)(wp + p * 32 + 16)) : _mm256_setzero_si256();
        for (int r = 0; r < R; r++) {
            const __m256i x = _mm256_broadcastd_epi32(_mm_loadu_si32(aq + r * GR_I16_LDQ + 2 * p));
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, b0));
            if (H == 2) acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, b1));
        }
    }
    const __m256i m0 = gr_i16_lanes_below(nc), m1 = gr_i16_lanes_below(nc - 8);
    for (int r = 0; r < R; r++) {
        const float s = rs[r] == rs[r] ? rs[r] : 0;   // a non-finite row: 0 here, f32 later
        for (int h = 0; h < H; h++) {
            float *cr = c + r * ldc + 8 * h;
            const __m256i m = h == 0 ? m0 : m1;
            __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][h]), _mm256_loadu_ps(cs + 8 * h)),
                                     _mm256_set1_ps(s));
            if (flags & GR_SGEMM_ACCUMULATE) v = _mm256_add_ps(v, masked ? _mm256_maskload_ps(cr, m) : _mm256_loadu_ps(cr));
            if (flags & GR_SGEMM_SILU) v = gr_silu8(v);
            if (masked) _mm256_maskstore_ps(cr, m, v); else _mm256_storeu_ps(cr, v);
        }
    }
}

/// All row tiles of one row block (mb rows) for one panel (constant H and masked).
#define GR_I16_PANEL(H, MASKED)                                                                                 \
    do {                                                                                                        \
        int i = 0;                                                                                              \
        for (; i + 6 <= mb; i += 6)                                                                             \
            gr_i16_tile(6, H, MASKED, aq + i * GR_I16_LDQ, rs + i, wp, cs, pairs, cj + i * ldc, ldc, nc, flags); \
        const int16_t *ai = aq + i * GR_I16_LDQ;                                                                \
        float *ci = cj + i * ldc;                                                                               \
        switch (mb - i) {                                                                                       \
        case 1: gr_i16_tile(1, H, MASKED, ai, rs + i, wp, cs, pairs, ci, ldc, nc, flags); break;                \
        case 2: gr_i16_tile(2, H, MASKED, ai, rs + i, wp, cs, pairs, ci, ldc, nc, flags); break;                \
        case 3: gr_i16_tile(3, H, MASKED, ai, rs + i, wp, cs, pairs, ci, ldc, nc, flags); break;                \
        case 4: gr_i16_tile(4, H, MASKED, ai, rs + i, wp, cs, pairs, ci, ldc, nc, flags); break;                \
        case 5: gr_i16_tile(5, H, MASKED, ai, rs + i, wp, cs, pairs, ci, ldc, nc, flags); break;                \
        default: break;                                                                                         \
        }                                                                                                       \
    } while (0)

GR_AVX2 void gr_i16gemm_avx2(const float *a, long lda, const int16_t *packed, const float *scales, const float *w,
                             long ldw, long m, long n, int k, float *c, long ldc, int flags) {
    if (k > 128 || k < 1) return;
    int16_t aq[GR_I16_ROWS * GR_I16_LDQ] __attribute__((aligned(32)));
    float rs[GR_I16_ROWS];
    const int pairs = (k + 1) / 2;
    for (long i0 = 0; i0 < m; i0 += GR_I16_ROWS) {
        const int mb = m - i0 < GR_I16_ROWS ? (int)(m - i0) : GR_I16_ROWS;
        int bad = 0;
        for (int r = 0; r < mb; r++) {
            rs[r] = gr_i16_quantize_row(a + (i0 + r) * lda, k, aq + r * GR_I16_LDQ);
            bad |= rs[r] != rs[r];
        }
        float *ci0 = c + i0 * ldc;
        for (long j = 0; j < n; j += 16) {
            const int nc = n - j < 16 ? (int)(n - j) : 16;
            const int16_t *wp = packed + (j / 16) * (long)pairs * 32;
            const float *cs = scales + j;
            float *cj = ci0 + j;
            if (nc == 16) GR_I16_PANEL(2, 0);
            else if (nc > 8) GR_I16_PANEL(2, 1);
            else if (nc == 8) GR_I16_PANEL(1, 0);
            else GR_I16_PANEL(1, 1);
        }
        if (!bad) continue;
        for (int r = 0; r < mb; r++) {
            if (rs[r] == rs[r]) continue;
            gr_sgemm_small_avx2(a + (i0 + r) * lda, lda, w, ldw, 1, n, k, ci0 + r * ldc, ldc, flags);
        }
    }
}
#else
void gr_i16gemm_avx2(const float *a, long lda, const int16_t *packed, const float *scales, const float *w, long ldw,
                     long m, long n, int k, float *c, long ldc, int flags) {
    (void)a; (void)lda; (void)packed; (void)scales; (void)w; (void)ldw; (void)m; (void)n; (void)k; (void)c;
    (void)ldc; (void)flags;
}
#endif
