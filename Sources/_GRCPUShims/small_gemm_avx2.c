// The serving forward's layer products (docs/inference.md "Small-K GEMM"): C (M, N) = A (M, K)·W
// with K small (HSTU-large: K = 50, N = 200 or 50), AVX2 + FMA, no packing: W (K, ldw) row-major is
// read in place (a 16-column panel of K rows stays in L1 while every row block of A passes), A rows
// are broadcast in place. Register tile 6 rows × 16 columns (12 accumulators, 2 B vectors, 1
// broadcast: 15 of Zen 3's 16 ymm), K fully looped in registers, and the epilogue fuses the
// optional `+ C` (GR_SGEMM_ACCUMULATE) and SiLU (GR_SGEMM_SILU) into the single store of C.
// Column tails (N mod 16) of 9–15 columns by masked loads and stores; of 1–7 columns, when N ≥ 8,
// as the last 8 columns with a blended store (`gr_small_tail_tile`), else masked.
#include "GRCPUShims.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include "silu_avx2.h"

/// Lanes x < n set (n may be ≤ 0 or ≥ 8).
GR_AVX2 static inline __m256i gr_lanes_below(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// Rows R (1...6) of a column tail of nc < 8 columns (c and w at the tail's first column) when
/// the matrix has ≥ 8 columns: the 8-column window ending at the tail (starting 8 − nc columns
/// earlier, inside the previous panel) is computed with plain loads of W, and each row is written
/// back as load C's window, blend in the tail lanes, store — the window's other lanes keep the
/// values the previous panel just stored (that panel is complete: panels run in order). Zen 3's
/// `vmaskmovps` (a masked store costs ≈ 10+ cycles, a masked load more than a load) made the
/// 2-column tail of a 50-column product cost ≈ 30 % of it (session 10). C's window is read even
/// without ACCUMULATE (bits moved, never computed on). Same values as the masked tile: lanes ≥
/// 8 − nc get the same products, + C and SiLU.
__attribute__((always_inline)) GR_AVX2 static inline void
gr_small_tail_tile(const int R, const float *a, long lda, const float *w, long ldw, int k, float *c, long ldc, int nc,
                   int flags) {
    const int shift = 8 - nc;
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(shift - 1));
    __m256 acc[6];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    const float *ws = w - shift;
    for (int p = 0; p < k; p++) {
        const __m256 b = _mm256_loadu_ps(ws + (long)p * ldw);
        for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * lda + p), b, acc[r]);
    }
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc - shift;
        const __m256 old = _mm256_loadu_ps(cr);
        __m256 v = acc[r];
        if (flags & GR_SGEMM_ACCUMULATE) v = _mm256_add_ps(v, old);
        if (flags & GR_SGEMM_SILU) v = gr_silu8(v);
        _mm256_storeu_ps(cr, _mm256_blendv_ps(old, v, _mm256_castsi256_ps(tail)));
    }
}

/// Rows R (1...6) × H 8-column halves (1 or 2) of C at c; `masked`: only columns < nc exist (B
/// lanes past them load as 0, C lanes past them are neither read nor written). Constant R, H and
/// masked at every call site, so each instance keeps its accumulators in registers.
__attribute__((always_inline)) GR_AVX2 static inline void
gr_small_tile(const int R, const int H, const int masked, const float *a, long lda, const float *w, long ldw, int k,
              float *c, long ldc, int nc, int flags) {
    if (masked == 2) {   // a tail of nc < 8 columns as the last 8 columns (H = 1; see gr_small_tail_tile)
        gr_small_tail_tile(R, a, lda, w, ldw, k, c, ldc, nc, flags);
        return;
    }
    __m256 acc[6][2];
    for (int r = 0; r < R; r++) for (int h = 0; h < H; h++) acc[r][h] = _mm256_setzero_ps();
    const __m256i m0 = gr_lanes_below(nc), m1 = gr_lanes_below(nc - 8);
    for (int p = 0; p < k; p++) {
        const float *wp = w + (long)p * ldw;
        __m256 b0, b1 = _mm256_setzero_ps();
        if (masked) {
            b0 = _mm256_maskload_ps(wp, m0);
            if (H == 2) b1 = _mm256_maskload_ps(wp + 8, m1);
        } else {
            b0 = _mm256_loadu_ps(wp);
            if (H == 2) b1 = _mm256_loadu_ps(wp + 8);
        }
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_broadcast_ss(a + r * lda + p);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            if (H == 2) acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    if ((flags & GR_SGEMM_SILU) && !(flags & GR_SGEMM_ACCUMULATE) && R * H % 4 == 0) {
        // SiLU 4 accumulators at a time (`gr_silu8x4`: the same bits as `gr_silu8`, 4 chains
        // interleaved; ≈ 3 % off the UVQK product).
        for (int g = 0; g < R * H; g += 4) {
            __m256 v[4];
            for (int q = 0; q < 4; q++) v[q] = acc[(g + q) / H][(g + q) % H];
            gr_silu8x4(v);
            for (int q = 0; q < 4; q++) {
                const int r = (g + q) / H, h = (g + q) % H;
                float *cr = c + r * ldc + 8 * h;
                if (masked) _mm256_maskstore_ps(cr, h == 0 ? m0 : m1, v[q]); else _mm256_storeu_ps(cr, v[q]);
            }
        }
        return;
    }
    for (int r = 0; r < R; r++) {
        for (int h = 0; h < H; h++) {
            float *cr = c + r * ldc + 8 * h;
            const __m256i m = h == 0 ? m0 : m1;
            __m256 v = acc[r][h];
            if (flags & GR_SGEMM_ACCUMULATE) v = _mm256_add_ps(v, masked ? _mm256_maskload_ps(cr, m) : _mm256_loadu_ps(cr));
            if (flags & GR_SGEMM_SILU) v = gr_silu8(v);
            if (masked) _mm256_maskstore_ps(cr, m, v); else _mm256_storeu_ps(cr, v);
        }
    }
}

/// All row blocks of one column panel (constant H and masked).
#define GR_SMALL_PANEL(H, MASKED)                                                                              \
    do {                                                                                                       \
        long i = 0;                                                                                            \
        for (; i + 6 <= m; i += 6) gr_small_tile(6, H, MASKED, a + i * lda, lda, wj, ldw, k, cj + i * ldc, ldc, nc, flags); \
        const float *ai = a + i * lda;                                                                         \
        float *ci = cj + i * ldc;                                                                              \
        switch (m - i) {                                                                                       \
        case 1: gr_small_tile(1, H, MASKED, ai, lda, wj, ldw, k, ci, ldc, nc, flags); break;                   \
        case 2: gr_small_tile(2, H, MASKED, ai, lda, wj, ldw, k, ci, ldc, nc, flags); break;                   \
        case 3: gr_small_tile(3, H, MASKED, ai, lda, wj, ldw, k, ci, ldc, nc, flags); break;                   \
        case 4: gr_small_tile(4, H, MASKED, ai, lda, wj, ldw, k, ci, ldc, nc, flags); break;                   \
        case 5: gr_small_tile(5, H, MASKED, ai, lda, wj, ldw, k, ci, ldc, nc, flags); break;                   \
        default: break;                                                                                        \
        }                                                                                                      \
    } while (0)

GR_AVX2 void gr_sgemm_small_avx2(const float *a, long lda, const float *w, long ldw, long m, long n, int k, float *c,
                                 long ldc, int flags) {
    for (long j = 0; j < n; j += 16) {
        const int nc = n - j < 16 ? (int)(n - j) : 16;
        const float *wj = w + j;
        float *cj = c + j;
        if (nc == 16) GR_SMALL_PANEL(2, 0);
        else if (nc > 8) GR_SMALL_PANEL(2, 1);
        else if (nc == 8) GR_SMALL_PANEL(1, 0);
        else if (n >= 8) GR_SMALL_PANEL(1, 2);   // the last 8 columns, blended (gr_small_tail_tile)
        else GR_SMALL_PANEL(1, 1);
    }
}
#else
void gr_sgemm_small_avx2(const float *a, long lda, const float *w, long ldw, long m, long n, int k, float *c,
                         long ldc, int flags) {
    (void)a; (void)lda; (void)w; (void)ldw; (void)m; (void)n; (void)k; (void)c; (void)ldc; (void)flags;
}
#endif
