// The int8 score tiles of the exact top-K retrieval (`ItemIndex` in GRInference, see
// docs/inference.md "Retrieval index"): items quantised to 7-bit signed integers with one Float
// scale per item, queries to 7-bit integers with one scale per query, products summed exactly in
// integers by AVX2 `vpmaddubsw` / `vpmaddwd`. These scores are approximations with a proven bound;
// ItemIndex rescores the candidates they let through exactly in Float. Only these functions are
// compiled for AVX2 (per-function target attribute); callers use them only after
// `gr_cpu_supports_avx2_fma()` returned 1.
#include "GRCPUShims.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

/// 4 bytes at `p` (any alignment) as one int32.
static inline int32_t gr_i8_load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/// One 4 queries × 16 items tile (items of one 16-item block). `x`: the block, (d4, 16, 4) int8;
/// `bias`: its 16 accumulator starts; `q0`: 4 query rows of d4·4 uint8, `stride` bytes apart.
/// acc[j][h] (8 int32: items 8h..<8h+8 of query j) = bias + Σ_c u[j][c]·x̂[c].
__attribute__((target("avx2,fma"), always_inline))
static inline void gr_i8_tile(const int8_t *x, const int32_t *bias, int d4, const uint8_t *q0, long stride,
                              __m256i acc[4][2]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)bias), b1 = _mm256_loadu_si256((const __m256i *)(bias + 8));
    for (int j = 0; j < 4; j++) { acc[j][0] = b0; acc[j][1] = b1; }
    int c = 0;
    // Two 4-coordinate steps summed in int16 before widening: |Σ| ≤ 4·128·63 = 32,256 < 2¹⁵.
    for (; c + 2 <= d4; c += 2) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + c * 64));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + c * 64 + 32));
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(x + c * 64 + 64));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)(x + c * 64 + 96));
        for (int j = 0; j < 4; j++) {
            const uint8_t *q = q0 + j * stride + c * 4;
            const __m256i u = _mm256_set1_epi32(gr_i8_load4(q)), v = _mm256_set1_epi32(gr_i8_load4(q + 4));
            __m256i t0 = _mm256_add_epi16(_mm256_maddubs_epi16(u, x0), _mm256_maddubs_epi16(v, y0));
            __m256i t1 = _mm256_add_epi16(_mm256_maddubs_epi16(u, x1), _mm256_maddubs_epi16(v, y1));
            acc[j][0] = _mm256_add_epi32(acc[j][0], _mm256_madd_epi16(t0, ones));
            acc[j][1] = _mm256_add_epi32(acc[j][1], _mm256_madd_epi16(t1, ones));
        }
    }
    if (c < d4) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + c * 64));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + c * 64 + 32));
        for (int j = 0; j < 4; j++) {
            const __m256i u = _mm256_set1_epi32(gr_i8_load4(q0 + j * stride + c * 4));
            acc[j][0] = _mm256_add_epi32(acc[j][0], _mm256_madd_epi16(_mm256_maddubs_epi16(u, x0), ones));
            acc[j][1] = _mm256_add_epi32(acc[j][1], _mm256_madd_epi16(_mm256_maddubs_epi16(u, x1), ones));
        }
    }
}

__attribute__((target("avx2,fma")))
long gr_retrieval_i8_scan(const int8_t *items, const int32_t *bias, const float *scales, long begin, long end,
                          int d4, const uint8_t *queries, const float *qscale, int q, const float *thresholds,
                          float *scratch, uint8_t *hits) {
    const long stride = (long)d4 * 4, block = (long)d4 * 64;
    for (long p = begin; p < end; p++) {
        int any = 0;
        for (int g = 0; g < q; g += 4) {
            __m256 hit = _mm256_setzero_ps();
            __m256 s[4][4];
            for (int h = 0; h < 2; h++) {
                const long b = 2 * p + h;
                __m256i acc[4][2];
                gr_i8_tile(items + b * block, bias + b * 16, d4, queries + g * stride, stride, acc);
                const __m256 sx0 = _mm256_loadu_ps(scales + b * 16), sx1 = _mm256_loadu_ps(scales + b * 16 + 8);
                for (int j = 0; j < 4; j++) {
                    const __m256 sq = _mm256_set1_ps(qscale[g + j]), t = _mm256_set1_ps(thresholds[g + j]);
                    const __m256 a = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[j][0]), sx0), sq);
                    const __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[j][1]), sx1), sq);
                    hit = _mm256_or_ps(hit, _mm256_or_ps(_mm256_cmp_ps(a, t, _CMP_GT_OQ), _mm256_cmp_ps(c, t, _CMP_GT_OQ)));
                    s[j][2 * h] = a; s[j][2 * h + 1] = c;
                }
            }
            hits[g / 4] = 0;
            if (_mm256_movemask_ps(hit)) {
                for (int j = 0; j < 4; j++) {
                    float *out = scratch + (long)(g + j) * 32;
                    for (int i = 0; i < 4; i++) _mm256_storeu_ps(out + 8 * i, s[j][i]);
                }
                hits[g / 4] = 1;
                any = 1;
            }
        }
        if (any) return p;
    }
    return end;
}
#else
long gr_retrieval_i8_scan(const int8_t *items, const int32_t *bias, const float *scales, long begin, long end,
                          int d4, const uint8_t *queries, const float *qscale, int q, const float *thresholds,
                          float *scratch, uint8_t *hits) {
    return end;
}
#endif
