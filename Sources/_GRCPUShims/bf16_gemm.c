// Reduced-precision products of the serving forward (docs/inference.md, `--precision bf16`):
// C (M, N) (+)= A (M, K)·B (K, N) with A and B rounded to bfloat16 and products accumulated in
// float32 by AVX-512 BF16 `vdpbf16ps` (two bf16 products a lane per instruction). Only these
// functions are compiled for AVX-512 BF16 (per-function target attributes, no package-wide
// flags); callers use them only after `gr_cpu_supports_avx512_bf16()` returned 1.
#include "GRCPUShims.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int gr_cpu_supports_avx512_bf16(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

/// float32 → bfloat16, round to nearest even (NaN stays NaN).
static inline uint16_t gr_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

long gr_bf16_packed_count(int k, int n) {
    long pairs = (k + 1) / 2, cols = (n + 15) / 16 * 16;
    return pairs * cols * 2;
}

void gr_bf16_pack_b(const float *w, int k, int n, int transposed, uint16_t *dst) {
    int pairs = (k + 1) / 2, cols = (n + 15) / 16 * 16;
    for (int p = 0; p < pairs; p++) {
        for (int j = 0; j < cols; j++) {
            for (int e = 0; e < 2; e++) {
                int kk = 2 * p + e;
                float v = 0;
                if (kk < k && j < n) v = transposed ? w[(long)j * k + kk] : w[(long)kk * n + j];
                dst[((long)p * cols + j) * 2 + e] = gr_bf16(v);
            }
        }
    }
}

#if defined(__x86_64__)
#define GR_BF16_MR 8

/// Rows i0 ..< i0 + mr (mr ≤ 8) against every 16-column panel of B̂.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void gr_bf16_rows(int mr, int n, int pairs, const uint32_t *a2, const uint16_t *b, int cols, float *c, int ldc,
                         int accumulate) {
    for (int j0 = 0; j0 < n; j0 += 32) {
        int two = j0 + 16 < n;
        __m512 acc0[GR_BF16_MR], acc1[GR_BF16_MR];
        for (int r = 0; r < GR_BF16_MR; r++) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); }
        const uint16_t *bp = b + (long)j0 * 2;
        if (mr == GR_BF16_MR && two) {
            for (int p = 0; p < pairs; p++) {
                __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(bp + (long)p * cols * 2));
                __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(bp + (long)p * cols * 2 + 32));
                for (int r = 0; r < GR_BF16_MR; r++) {
                    __m512bh av = (__m512bh)_mm512_set1_epi32((int)a2[r * pairs + p]);
                    acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
                    acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
                }
            }
        } else {
            for (int p = 0; p < pairs; p++) {
                __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(bp + (long)p * cols * 2));
                __m512bh b1 = two ? (__m512bh)_mm512_loadu_si512((const void *)(bp + (long)p * cols * 2 + 32))
                                  : (__m512bh)_mm512_setzero_si512();
                for (int r = 0; r < mr; r++) {
                    __m512bh av = (__m512bh)_mm512_set1_epi32((int)a2[r * pairs + p]);
                    acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
                    if (two) acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
                }
            }
        }
        int w0 = n - j0 < 16 ? n - j0 : 16;
        int w1 = two ? (n - j0 - 16 < 16 ? n - j0 - 16 : 16) : 0;
        __mmask16 m0 = (__mmask16)((1u << w0) - 1u), m1 = (__mmask16)((1u << w1) - 1u);
        for (int r = 0; r < mr; r++) {
            float *row = c + (long)r * ldc + j0;
            __m512 v0 = acc0[r], v1 = acc1[r];
            if (accumulate) v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
            _mm512_mask_storeu_ps(row, m0, v0);
            if (two) {
                if (accumulate) v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
                _mm512_mask_storeu_ps(row + 16, m1, v1);
            }
        }
    }
}
#endif

void gr_bf16_gemm(int m, int n, int k, const float *a, int lda, const uint16_t *b, float *c, int ldc, int accumulate) {
#if defined(__x86_64__)
    int pairs = (k + 1) / 2, cols = (n + 15) / 16 * 16;
    uint32_t a2[GR_BF16_MR * 512];   // the A rows of one block as bf16 pairs (K ≤ 1024)
    for (int i0 = 0; i0 < m; i0 += GR_BF16_MR) {
        int mr = m - i0 < GR_BF16_MR ? m - i0 : GR_BF16_MR;
        for (int r = 0; r < mr; r++) {
            const float *row = a + (long)(i0 + r) * lda;
            for (int p = 0; p < pairs; p++) {
                uint32_t lo = gr_bf16(row[2 * p]), hi = 2 * p + 1 < k ? gr_bf16(row[2 * p + 1]) : 0;
                a2[r * pairs + p] = lo | (hi << 16);
            }
        }
        gr_bf16_rows(mr, n, pairs, a2, b, cols, c + (long)i0 * ldc, ldc, accumulate);
    }
#else
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)c; (void)ldc; (void)accumulate;
#endif
}
