// The serving forward's LayerNorms (docs/inference.md "LayerNorm rows"): out = LN(x) or u ⊙ LN(x)
// per row, no affine parameters (HSTU's norms), AVX2 + FMA. Same formula as GRCPU's
// `NormKernels.layerNormMulForward` (μ = Σx/C, σ² = Σ(x − μ)²/C, r = 1/√(σ² + eps), out = (x − μ)·r
// (·u)), 4 rows at a time step by step (their latency chains overlap), the column tail of rows of
// ≥ 8 columns by overlapping unaligned loads and stores (`gr_ln_tail`), else masked.
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

/// The column tail (lanes < cols mod 8 of the row's last partial vector, the rest 0) of row p:
/// with `overlap` one unaligned load of the row's last 8 columns rotated into those lanes
/// (`rot`) and masked — the values `vmaskmovps` loads, without it (a masked load or store costs
/// ≈ 6 ns per row on Zen 3) — else the masked load (rows narrower than 8).
GR_AVX2 static inline __m256 gr_ln_tail(const float *p, int cols, int full, int overlap, __m256i rot, __m256i tailMask) {
    if (overlap) return _mm256_and_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(p + cols - 8), rot), _mm256_castsi256_ps(tailMask));
    return _mm256_maskload_ps(p + full, tailMask);
}

/// Rows r0 ..< r0 + R (R constant at each call), every step across the R rows: a row is a chain
/// of sums, a horizontal sum, a square root and a division (≈ 100 cycles of latency for 50
/// columns), so R independent rows keep the pipes busy. `overlap` (cols ≥ 8, out overlapping
/// neither x nor u): the tail is read by `gr_ln_tail` and written as the row's last 8 columns in
/// one unaligned store (the columns before the tail get the values the full vectors gave them).
__attribute__((always_inline)) GR_AVX2 static inline void
gr_layernorm_block(const int R, const float *x, long ldx, const float *u, long ldu, float *out, long ldo, float *mean,
                   float *rstd, int cols, float eps, __m256i tailMask, int overlap, __m256i rot) {
    const int full = cols / 8 * 8, tail = cols - full;
    const float invC = 1.0f / (float)cols;
    __m256 s[4], vmu[4], vrs[4];
    for (int i = 0; i < R; i++) s[i] = _mm256_setzero_ps();
    for (int c = 0; c < full; c += 8)
        for (int i = 0; i < R; i++) s[i] = _mm256_add_ps(s[i], _mm256_loadu_ps(x + i * ldx + c));
    if (tail)
        for (int i = 0; i < R; i++) s[i] = _mm256_add_ps(s[i], gr_ln_tail(x + i * ldx, cols, full, overlap, rot, tailMask));
    for (int i = 0; i < R; i++) { mean[i] = gr_hsum8(s[i]) * invC; vmu[i] = _mm256_set1_ps(mean[i]); s[i] = _mm256_setzero_ps(); }
    for (int c = 0; c < full; c += 8)
        for (int i = 0; i < R; i++) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i * ldx + c), vmu[i]);
            s[i] = _mm256_fmadd_ps(d, d, s[i]);
        }
    if (tail)
        for (int i = 0; i < R; i++) {
            __m256 d = _mm256_and_ps(_mm256_sub_ps(gr_ln_tail(x + i * ldx, cols, full, overlap, rot, tailMask), vmu[i]), _mm256_castsi256_ps(tailMask));
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
            if (tail && overlap)
                _mm256_storeu_ps(po + cols - 8, _mm256_mul_ps(_mm256_loadu_ps(pu + cols - 8),
                                                              _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + cols - 8), vmu[i]), vrs[i])));
            else if (tail)
                _mm256_maskstore_ps(po + full, tailMask, _mm256_mul_ps(_mm256_maskload_ps(pu + full, tailMask),
                                                                      _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(px + full, tailMask), vmu[i]), vrs[i])));
        } else {
            for (int c = 0; c < full; c += 8) _mm256_storeu_ps(po + c, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + c), vmu[i]), vrs[i]));
            if (tail && overlap)
                _mm256_storeu_ps(po + cols - 8, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + cols - 8), vmu[i]), vrs[i]));
            else if (tail)
                _mm256_maskstore_ps(po + full, tailMask, _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(px + full, tailMask), vmu[i]), vrs[i]));
        }
    }
}

/// Whether [a, a + n) and [b, b + m) (floats) share an address.
static int gr_ln_overlaps(const float *a, long n, const float *b, long m) { return a < b + m && b < a + n; }

GR_AVX2 void gr_layernorm_rows_avx2(const float *x, long ldx, const float *u, long ldu, float *out, long ldo,
                                    float *mean, float *rstd, long rows, int cols, float eps) {
    if (cols <= 0 || rows <= 0) return;
    const __m256i tailMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols % 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    // lane j of the rotated tail = lane j + 8 − tail of the row's last 8 columns
    const __m256i rot = _mm256_and_si256(_mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 - cols % 8)),
                                         _mm256_set1_epi32(7));
    const long outSpan = (rows - 1) * ldo + cols;
    const int overlap = cols >= 8 && !gr_ln_overlaps(out, outSpan, x, (rows - 1) * ldx + cols) &&
                        !(u && gr_ln_overlaps(out, outSpan, u, (rows - 1) * ldu + cols));
    long r = 0;
    for (; r + 4 <= rows; r += 4)
        gr_layernorm_block(4, x + r * ldx, ldx, u ? u + r * ldu : 0, ldu, out + r * ldo, ldo, mean + r, rstd + r, cols, eps, tailMask, overlap, rot);
    for (; r < rows; r++)
        gr_layernorm_block(1, x + r * ldx, ldx, u ? u + r * ldu : 0, ldu, out + r * ldo, ldo, mean + r, rstd + r, cols, eps, tailMask, overlap, rot);
}
#else
void gr_layernorm_rows_avx2(const float *x, long ldx, const float *u, long ldu, float *out, long ldo,
                            float *mean, float *rstd, long rows, int cols, float eps) {
    (void)x; (void)ldx; (void)u; (void)ldu; (void)out; (void)ldo; (void)mean; (void)rstd; (void)rows; (void)cols; (void)eps;
}
#endif
