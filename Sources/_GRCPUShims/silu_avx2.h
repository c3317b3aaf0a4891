// x·σ(x) on 8 AVX2 lanes, shared by the serving forward's AVX2 kernels (hstu_infer_attention.c,
// small_gemm_avx2.c). Private to the shim (not in include/). x86-64 only.
#ifndef GR_SILU_AVX2_H
#define GR_SILU_AVX2_H
#include <immintrin.h>

#define GR_AVX2 __attribute__((target("avx2,fma")))

/// x·σ(x) = x / (1 + e^−x), 8 lanes (the Cephes e^t of `FastMath.exp` on t = −x clamped to
/// [−87.3, 88.3]; the reciprocal by `vrcpps` and one Newton step, relative error ≈ 2⁻²²).
GR_AVX2 static inline __m256 gr_silu8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), x), _mm256_set1_ps(-87.3f)),
                             _mm256_set1_ps(88.3f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334520e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665796e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666666e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, one));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    __m256 d = _mm256_fmadd_ps(p, _mm256_castsi256_ps(e), one);   // 1 + e^−x
    __m256 y = _mm256_rcp_ps(d);
    y = _mm256_fmadd_ps(y, _mm256_fnmadd_ps(d, y, one), y);
    return _mm256_mul_ps(x, y);
}

#endif
