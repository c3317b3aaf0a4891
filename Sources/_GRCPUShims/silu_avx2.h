// x·σ(x) on 8 AVX2 lanes, shared by the serving forward's AVX2 kernels (hstu_infer_attention.c,
// small_gemm_avx2.c). Private to the shim (not in include/). x86-64 only.
#ifndef GR_SILU_AVX2_H
#define GR_SILU_AVX2_H
#include <immintrin.h>

#define GR_AVX2 __attribute__((target("avx2,fma")))

/// x·σ(x) = x / (1 + e^−x), 8 lanes, 17 vector ops (docs/inference.md, "SiLU"):
/// - e^−x = 2^(−x·log2e) = 2^k · 2^f on x clamped to [−87, 87]: k = round(−x·log2e) by the
///   1.5·2²³ magic add, whose low mantissa bits also hold k + 127, so 2^k is that float's bits
///   shifted left by 23 (no round/convert); f = −x·log2e − k ∈ [−½, ½] with log2e split in two
///   (Cody–Waite), 2^f by a degree-5 minimax polynomial (relative error 1.0e-7);
/// - 1/(1 + e^−x) by `vrcpps` and one Newton step (no division), times the unclamped x (so NaN
///   stays NaN and ±inf stays itself for x = +inf).
/// Against x/(1 + e^−x) in double: relative error ≤ 3.2e-7 for x ≥ −80 (every f32 checked once;
/// `InferenceSiLUTests` samples it); below −80 the result is ≈ 0 (|error| ≤ 1e-34·|x|).
GR_AVX2 static inline __m256 gr_silu8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 log2e = _mm256_set1_ps(1.44269502f);        // log2(e) rounded to f32 …
    const __m256 log2eLow = _mm256_set1_ps(1.925963e-8f);     // … and the rest
    const __m256 magic = _mm256_set1_ps(12583039.0f);         // 1.5·2²³ + 127
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(87.0f));
    __m256 j = _mm256_fnmadd_ps(xc, log2e, magic);            // 1.5·2²³ + 127 + k
    __m256 k = _mm256_sub_ps(j, magic);                       // k, exactly
    __m256 f = _mm256_fnmsub_ps(xc, log2e, k);                // −x·log2e − k
    f = _mm256_fnmadd_ps(xc, log2eLow, f);
    __m256 p = _mm256_set1_ps(1.3308824e-3f);                 // 2^f
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6715167e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5505823e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022242e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314706e-1f));
    p = _mm256_fmadd_ps(p, f, one);
    __m256 e = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(j), 23));   // 2^k
    __m256 d = _mm256_fmadd_ps(p, e, one);                    // 1 + e^−x
    __m256 y = _mm256_rcp_ps(d);
    y = _mm256_fmadd_ps(y, _mm256_fnmadd_ps(d, y, one), y);
    return _mm256_mul_ps(x, y);
}

/// `gr_silu8` of 4 vectors in place, step by step across the 4 (the same operations, so the same
/// bits): one SiLU is a chain of ≈ 15 dependent operations, and interleaving 4 independent chains
/// lets the out-of-order window fill both FMA pipes.
GR_AVX2 static inline void gr_silu8x4(__m256 x[4]) {
    const __m256 one = _mm256_set1_ps(1.0f), log2e = _mm256_set1_ps(1.44269502f);
    const __m256 log2eLow = _mm256_set1_ps(1.925963e-8f), magic = _mm256_set1_ps(12583039.0f);
    __m256 xc[4], j[4], f[4], p[4], d[4], y[4];
    for (int i = 0; i < 4; i++) xc[i] = _mm256_min_ps(_mm256_max_ps(x[i], _mm256_set1_ps(-87.0f)), _mm256_set1_ps(87.0f));
    for (int i = 0; i < 4; i++) j[i] = _mm256_fnmadd_ps(xc[i], log2e, magic);
    for (int i = 0; i < 4; i++) f[i] = _mm256_fnmsub_ps(xc[i], log2e, _mm256_sub_ps(j[i], magic));
    for (int i = 0; i < 4; i++) f[i] = _mm256_fnmadd_ps(xc[i], log2eLow, f[i]);
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(_mm256_set1_ps(1.3308824e-3f), f[i], _mm256_set1_ps(9.6715167e-3f));
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(p[i], f[i], _mm256_set1_ps(5.5505823e-2f));
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(p[i], f[i], _mm256_set1_ps(2.4022242e-1f));
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(p[i], f[i], _mm256_set1_ps(6.9314706e-1f));
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(p[i], f[i], one);
    for (int i = 0; i < 4; i++) d[i] = _mm256_fmadd_ps(p[i], _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(j[i]), 23)), one);
    for (int i = 0; i < 4; i++) y[i] = _mm256_rcp_ps(d[i]);
    for (int i = 0; i < 4; i++) y[i] = _mm256_fmadd_ps(y[i], _mm256_fnmadd_ps(d[i], y[i], one), y[i]);
    for (int i = 0; i < 4; i++) x[i] = _mm256_mul_ps(x[i], y[i]);
}

#endif
