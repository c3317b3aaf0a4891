// The int8 score tiles of the exact top-K retrieval (`ItemIndex` in GRInference, see
// docs/inference.md "Retrieval index"): items quantised to 7-bit integers with one Float scale per
// item, queries to 8-bit integers with one scale per query, products summed exactly by AVX2
// `vpmaddubsw` and accumulated in int16 (wrapping: exact because every |Σ q̂·x̂| ≤ ‖q̂‖·‖x̂‖ < 2¹⁵).
// These scores are approximations with a proven bound; ItemIndex rescores the candidates they let
// through exactly in Float. Only these functions are compiled for AVX2 (per-function target
// attribute); callers use them only after `gr_cpu_supports_avx2_fma()` returned 1.
#include "GRCPUShims.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

/// One NQ queries × 32 items tile: `x` the pair, (g2, 32, 2) uint8 x̂ + 64; `q0` NQ query rows of
/// (g2, 32) int8 (the pre-broadcast coordinate pairs), `stride` bytes apart; `bias` their int16
/// accumulator starts. acc[j][h] (16 int16: items 16h..<16h+16 of query j) = Σ x̂·q̂ mod 2¹⁶.
/// Per coordinate pair: 2 item loads, then per query 2 `vpmaddubsw` (the query a memory operand) and
/// 2 `vpaddw`.
#define GR_I8_TILE(NQ)                                                                                                \
    __attribute__((target("avx2,fma"), always_inline)) static inline void gr_i8_tile##NQ(                             \
        const uint8_t *x, int g2, const int8_t *q0, long stride, const int16_t *bias, __m256i acc[4][2]) {            \
        for (int j = 0; j < NQ; j++) acc[j][0] = acc[j][1] = _mm256_set1_epi16(bias[j]);                              \
        for (int c = 0; c < g2; c++) {                                                                                \
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + c * 64));                                     \
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + c * 64 + 32));                                \
            for (int j = 0; j < NQ; j++) {                                                                            \
                const __m256i u = _mm256_loadu_si256((const __m256i *)(q0 + j * stride + c * 32));                    \
                acc[j][0] = _mm256_add_epi16(acc[j][0], _mm256_maddubs_epi16(x0, u));                                 \
                acc[j][1] = _mm256_add_epi16(acc[j][1], _mm256_maddubs_epi16(x1, u));                                 \
            }                                                                                                         \
        }                                                                                                             \
    }
GR_I8_TILE(1)
GR_I8_TILE(2)
GR_I8_TILE(3)
GR_I8_TILE(4)

/// The int16 pre-test limits of a group of pairs for queries 0..<q: a score a = fl(fl(Float(Σ)·s_x)·s_q)
/// > t needs Σ > t / (s_x·s_q) ≥ t / (s_max·s_q) when t > 0, s_max the group's largest s_x. `pairInv` is
/// 1/s_max and `qinv` (1/s_q)·(1 − 2⁻¹⁰), both rounded down and finite: the slack covers the two
/// roundings of a and the two of v = t·qinv·pairInv, so v is at most that bound and Σ > floor(v) is
/// necessary. t ≤ 0, or v NaN: −32768, every Σ passes (|Σ| < 2¹⁵).
__attribute__((target("avx2,fma")))
static void gr_i8_limits(const float *thresholds, const float *qinv, float pairInv, int q, int16_t *limits) {
    for (int j = 0; j < q; j++) {
        const float t = thresholds[j], v = t * qinv[j] * pairInv;
        limits[j] = !(t > 0) ? -32768 : v >= 32767.0f ? 32767 : v >= 0 ? (int16_t)floorf(v) : -32768;
    }
}

/// Queries j..<j+NQ of one pair after their tile: the int16 pre-test, then for a query that passes,
/// its 32 approximate scores into scratch row j and, when one exceeds its threshold, hits[j] = 1.
/// Returns whether one did.
#define GR_I8_FINISH(NQ)                                                                                               \
    __attribute__((target("avx2,fma"), always_inline)) static inline int gr_i8_finish##NQ(                             \
        __m256i acc[4][2], int j0, const int16_t *limits, const float *sx, const float *qscale,                       \
        const float *thresholds, float *scratch, uint8_t *hits) {                                                     \
        __m256i pass[4];                                                                                               \
        __m256i any = _mm256_setzero_si256();                                                                          \
        for (int j = 0; j < NQ; j++) {                                                                                 \
            const __m256i t = _mm256_set1_epi16(limits[j0 + j]);                                                       \
            pass[j] = _mm256_or_si256(_mm256_cmpgt_epi16(acc[j][0], t), _mm256_cmpgt_epi16(acc[j][1], t));             \
            any = _mm256_or_si256(any, pass[j]);                                                                       \
        }                                                                                                              \
        if (!_mm256_movemask_epi8(any)) return 0;                                                                      \
        int hit = 0;                                                                                                   \
        for (int j = 0; j < NQ; j++) {                                                                                 \
            if (!_mm256_movemask_epi8(pass[j])) continue;                                                              \
            const int qi = j0 + j;                                                                                     \
            const __m256 sq = _mm256_set1_ps(qscale[qi]), t = _mm256_set1_ps(thresholds[qi]);                         \
            float *out = scratch + (long)qi * 32;                                                                      \
            __m256 h = _mm256_setzero_ps();                                                                            \
            for (int i = 0; i < 4; i++) {                                                                              \
                const __m128i s16 = (i & 1) ? _mm256_extracti128_si256(acc[j][i >> 1], 1)                              \
                                            : _mm256_castsi256_si128(acc[j][i >> 1]);                                  \
                const __m256 s = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(s16));                                       \
                const __m256 a = _mm256_mul_ps(_mm256_mul_ps(s, _mm256_loadu_ps(sx + 8 * i)), sq);                     \
                _mm256_storeu_ps(out + 8 * i, a);                                                                      \
                h = _mm256_or_ps(h, _mm256_cmp_ps(a, t, _CMP_GT_OQ));                                                  \
            }                                                                                                          \
            if (_mm256_movemask_ps(h)) { hits[qi] = 1; hit = 1; }                                                      \
        }                                                                                                              \
        return hit;                                                                                                    \
    }
GR_I8_FINISH(1)
GR_I8_FINISH(2)
GR_I8_FINISH(3)
GR_I8_FINISH(4)

__attribute__((target("avx2,fma")))
long gr_retrieval_i8_scan(const uint8_t *items, const float *scales, const float *pairInv, long begin, long end,
                          int g2, const int8_t *queries, const int16_t *qbias, const float *qscale, const float *qinv,
                          int q, const float *thresholds, int16_t *limits, float *scratch, uint8_t *hits) {
    const long stride = (long)g2 * 32, pairBytes = (long)g2 * 64;
    for (long p = begin; p < end; p++) {
        const uint8_t *x = items + p * pairBytes;
        const float *sx = scales + p * 32;
        // pairInv is constant over each group of 8 pairs (`Int8Items`); thresholds change only at a
        // hit, which returns.
        if (p == begin || (p & 7) == 0) gr_i8_limits(thresholds, qinv, pairInv[p], q, limits);
        int any = 0, j = 0;
        __m256i acc[4][2];
        for (; j + 4 <= q; j += 4) {
            gr_i8_tile4(x, g2, queries + j * stride, stride, qbias + j, acc);
            any |= gr_i8_finish4(acc, j, limits, sx, qscale, thresholds, scratch, hits);
        }
        switch (q - j) {
        case 3:
            gr_i8_tile3(x, g2, queries + j * stride, stride, qbias + j, acc);
            any |= gr_i8_finish3(acc, j, limits, sx, qscale, thresholds, scratch, hits);
            break;
        case 2:
            gr_i8_tile2(x, g2, queries + j * stride, stride, qbias + j, acc);
            any |= gr_i8_finish2(acc, j, limits, sx, qscale, thresholds, scratch, hits);
            break;
        case 1:
            gr_i8_tile1(x, g2, queries + j * stride, stride, qbias + j, acc);
            any |= gr_i8_finish1(acc, j, limits, sx, qscale, thresholds, scratch, hits);
            break;
        default: break;
        }
        if (any) return p;
    }
    return end;
}
#else
long gr_retrieval_i8_scan(const uint8_t *items, const float *scales, const float *pairInv, long begin, long end,
                          int g2, const int8_t *queries, const int16_t *qbias, const float *qscale, const float *qinv,
                          int q, const float *thresholds, int16_t *limits, float *scratch, uint8_t *hits) {
    return end;
}
#endif
