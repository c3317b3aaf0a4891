// x·σ(x) on 8 AVX2 lanes, shared by the serving forward's AVX2 kernels (hstu_infer_attention.c,
// small_gemm_avx2.c). Private to the shim (not in include/). x86-64 only.
#ifndef GR_SILU_AVX2_H
#define GR_SILU_AVX2_H
#include <immintrin.h>

#define GR_AVX2 __attribute__((target("avx2,fma")))

/// 2^(i/8) for i = 0 ..< 8 as f32 bits, minus i << 20 (`gr_silu8`'s exponent trick adds it back).
#define GR_SILU_EXP2_EIGHTHS                                                                        \
    _mm256_castsi256_ps(_mm256_setr_epi32(0x3f800000, 0x3f7b95c2, 0x3f7837f0, 0x3f75fed7, 0x3f7504f3, \
                                          0x3f75672a, 0x3f7744fd, 0x3f7ac0c7))

/// 2^(k/8) from j = 1.5·2²³ + k (`gr_silu8`'s magic add): the table entry of k mod 8 (`vpermps` by
/// j's low 3 bits) plus j's bits shifted left by 20, which adds ⌊k/8⌋ to the exponent.
GR_AVX2 static inline __m256 gr_silu_exp2_eighths(__m256 j) {
    const __m256i ji = _mm256_castps_si256(j);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(_mm256_permutevar8x32_ps(GR_SILU_EXP2_EIGHTHS, ji)),
                                                _mm256_slli_epi32(ji, 20)));
}

/// x·σ(x) = x / (1 + e^−x), 8 lanes, 18 vector ops of which 11 on Zen 3's two FMA pipes
/// (docs/inference.md, "SiLU"):
/// - e^−x = 2^t, t = −x·log2e on x clamped to [−87, 87], as 2^(k/8)·2^(f/8) with k = round(8t) by
///   the 1.5·2²³ magic add (j = 1.5·2²³ + k; its low mantissa bits hold k), f = 8t − k ∈ [−½, ½]
///   with 8·log2e split in two (Cody–Waite);
/// - 2^(k/8) = 2^⌊k/8⌋·2^((k mod 8)/8): one `vpermps` of the 8-entry table above by j's low 3 bits,
///   plus j's bits shifted left by 20 (adds ⌊k/8⌋ to the exponent; the table entries are stored
///   minus the (k mod 8) << 20 that the shift also adds) — no round/convert, no FMA pipe;
/// - 2^(f/8) by a degree-3 minimax polynomial in f (relative error 2.7e-8; the table's rounding
///   3.2e-8);
/// - 1/(1 + e^−x) by `vrcpps` and one Newton step (no division), times the unclamped x (so NaN
///   stays NaN and ±inf stays itself for x = +inf).
/// Against x/(1 + e^−x) in double: relative error ≤ 2.9e-7 for x ≥ −80 (every f32 checked once:
/// `scripts/silu-exhaustive.c`; `InferenceSiLUTests` samples it); below −80 the result is ≈ 0
/// (|error| ≤ 1e-34·|x|). Until session 10 2^f came from a degree-5 polynomial on f ∈ [−½, ½]
/// (13 FMA-pipe ops, a dependency chain 2 FMAs longer, 3.2e-7).
GR_AVX2 static inline __m256 gr_silu8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 log2e8 = _mm256_set1_ps(11.5415602f);        // 8·log2(e) rounded to f32 …
    const __m256 log2e8Low = _mm256_set1_ps(1.5407704e-7f);   // … and the rest
    const __m256 magic = _mm256_set1_ps(12582912.0f);         // 1.5·2²³
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(87.0f));
    __m256 j = _mm256_fnmadd_ps(xc, log2e8, magic);           // 1.5·2²³ + k
    __m256 f = _mm256_fnmsub_ps(xc, log2e8, _mm256_sub_ps(j, magic));   // −8x·log2e − k
    f = _mm256_fnmadd_ps(xc, log2e8Low, f);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.0839106e-4f), f, _mm256_set1_ps(3.7540256e-3f));   // 2^(f/8)
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(8.6643405e-2f));
    p = _mm256_fmadd_ps(p, f, one);
    __m256 d = _mm256_fmadd_ps(p, gr_silu_exp2_eighths(j), one);   // 1 + e^−x
    __m256 y = _mm256_rcp_ps(d);
    y = _mm256_fmadd_ps(y, _mm256_fnmadd_ps(d, y, one), y);
    return _mm256_mul_ps(x, y);
}

/// `gr_silu8` of 4 vectors in place, step by step across the 4 (the same operations, so the same
/// bits): one SiLU is a chain of ≈ 14 dependent operations, and interleaving 4 independent chains
/// lets the out-of-order window fill both FMA pipes.
GR_AVX2 static inline void gr_silu8x4(__m256 x[4]) {
    const __m256 one = _mm256_set1_ps(1.0f), log2e8 = _mm256_set1_ps(11.5415602f);
    const __m256 log2e8Low = _mm256_set1_ps(1.5407704e-7f), magic = _mm256_set1_ps(12582912.0f);
    __m256 xc[4], j[4], f[4], p[4], d[4], y[4];
    for (int i = 0; i < 4; i++) xc[i] = _mm256_min_ps(_mm256_max_ps(x[i], _mm256_set1_ps(-87.0f)), _mm256_set1_ps(87.0f));
    for (int i = 0; i < 4; i++) j[i] = _mm256_fnmadd_ps(xc[i], log2e8, magic);
    for (int i = 0; i < 4; i++) f[i] = _mm256_fnmsub_ps(xc[i], log2e8, _mm256_sub_ps(j[i], magic));
    for (int i = 0; i < 4; i++) f[i] = _mm256_fnmadd_ps(xc[i], log2e8Low, f[i]);
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(_mm256_set1_ps(1.0839106e-4f), f[i], _mm256_set1_ps(3.7540256e-3f));
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(p[i], f[i], _mm256_set1_ps(8.6643405e-2f));
    for (int i = 0; i < 4; i++) p[i] = _mm256_fmadd_ps(p[i], f[i], one);
    for (int i = 0; i < 4; i++) d[i] = _mm256_fmadd_ps(p[i], gr_silu_exp2_eighths(j[i]), one);
    for (int i = 0; i < 4; i++) y[i] = _mm256_rcp_ps(d[i]);
    for (int i = 0; i < 4; i++) y[i] = _mm256_fmadd_ps(y[i], _mm256_fnmadd_ps(d[i], y[i], one), y[i]);
    for (int i = 0; i < 4; i++) x[i] = _mm256_mul_ps(x[i], y[i]);
}

#endif
