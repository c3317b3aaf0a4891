// The serving forward's LayerNorms (docs/inference.md "LayerNorm rows"): out = LN(x) or u ⊙ LN(x)
// per row, no affine parameters (HSTU's norms), AVX2 + FMA. Same formula as GRCPU's
// `NormKernels.layerNormMulForward` (μ = Σx/C, σ² = Σ(x − μ)²/C, r = 1/√(σ² + eps), out = (x − μ)·r
// (·u)), 4 rows at a time step by step (their latency chains overlap), the column tail by masked
// loads and stores.
#include "GRCPUShims.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include "silu_avx2.h"

GR_AVX2 static inline float gr_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Rows r0 ..< r0 + R (R constant at each call), every step across the R rows: a row is a chain
/// of sums, a horizontal sum, a square root and a division (≈ 100 cycles of latency for 50
/// columns), so R independent rows keep the pipes busy.
__attribute__((always_inline)) GR_AVX2 static inline void
gr_layernorm_block(const int R, const float *x, long ldx, const float *u, long ldu, float *out, long ldo, float *mean,
                   float *rstd, int cols, float eps, __m256i tailMask) {
    const int full = cols / 8 * 8, tail = cols - full;
    const float invC = 1.0f / (float)cols;
    __m256 s[4], vmu[4], vrs[4];
    for (int i = 0; i < R; i++) s[i] = _mm256_setzero_ps();
    for (int c = 0; c < full; c += 8)
        for (int i = 0; i < R; i++) s[i] = _mm256_add_ps(s[i], _mm256_loadu_ps(x + i * ldx + c));
    if (tail)
        for (int i = 0; i < R; i++) s[i] = _mm256_add_ps(s[i], _mm256_maskload_ps(x + i * ldx + full, tailMask));
    for (int i = 0; i < R; i++) { mean[i] = gr_hsum8(s[i]) * invC; vmu[i] = _mm256_set1_ps(mean[i]); s[i] = _mm256_setzero_ps(); }
    for (int c = 0; c < full; c += 8)
        for (int i = 0; i < R; i++) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i * ldx + c), vmu[i]);
            s[i] = _mm256_fmadd_ps(d, d, s[i]);
        }
    if (tail)
        for (int i = 0; i < R; i++) {
            __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i * ldx + full, tailMask), vmu[i]), _mm256_castsi256_ps(tailMask));
            s[i] = _mm256_fmadd_ps(d, d, s[i]);
        }
    for (int i = 0; i < R; i++) { rstd[i] = 1.0f / sqrtf(gr_hsum8(s[i]) * invC + eps); vrs[i] = _mm256_set1_ps(rstd[i]); }
    for (int i = 0; i < R; i++) {
        const float *px = x + i * ldx;
        float *po = out + i * ldo;
        if (u) {
            const float *pu = u + i * ldu;
            for (int c = 0; c < full; c += 8)
                _mm256_storeu_ps(po + c, _mm256_mul_ps(_mm256_loadu_ps(pu + c), _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + c), vmu[i]), vrs[i])));
            if (tail)
                _mm256_maskstore_ps(po + full, tailMask, _mm256_mul_ps(_mm256_maskload_ps(pu + full, tailMask),
                                                                      _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(px + full, tailMask), vmu[i]), vrs[i])));
        } else {
            for (int c = 0; c < full; c += 8) _mm256_storeu_ps(po + c, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + c), vmu[i]), vrs[i]));
            if (tail) _mm256_maskstore_ps(po + full, tailMask, _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(px + full, tailMask), vmu[i]), vrs[i]));
        }
    }
}

GR_AVX2 void gr_layernorm_rows_avx2(const float *x, long ldx, const float *u, long ldu, float *out, long ldo,
                                    float *mean, float *rstd, long rows, int cols, float eps) {
    if (cols <= 0) return;
    const __m256i tailMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols % 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    long r = 0;
    for (; r + 4 <= rows; r += 4)
        gr_layernorm_block(4, x + r * ldx, ldx, u ? u + r * ldu : 0, ldu, out + r * ldo, ldo, mean + r, rstd + r, cols, eps, tailMask);
    for (; r < rows; r++)
        gr_layernorm_block(1, x + r * ldx, ldx, u ? u + r * ldu : 0, ldu, out + r * ldo, ldo, mean + r, rstd + r, cols, eps, tailMask);
}
#else
void gr_layernorm_rows_avx2(const float *x, long ldx, const float *u, long ldu, float *out, long ldo,
                            float *mean, float *rstd, long rows, int cols, float eps) {
    (void)x; (void)ldx; (void)u; (void)ldu; (void)out; (void)ldo; (void)mean; (void)rstd; (void)rows; (void)cols; (void)eps;
}
#endif
