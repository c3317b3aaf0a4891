// SiLU for the serving forward (docs/inference.md): x ← x·σ(x) = x / (1 + e^(−x)), 16 lanes of
// AVX-512 (compiled for AVX-512 F per function; called only after `gr_cpu_supports_avx512()`).
// e^t: t clamped to [−87.3, 88.3], k = round(t·log2 e), r = t − k·ln2 (Cody–Waite), the Cephes
// expf polynomial on |r| ≤ ln2/2, then ·2^k by `vscalefps` (≈ 1 ulp, like `FastMath.exp`).
#include "GRCPUShims.h"
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
void gr_silu_avx512(float *x, long n) {
    const __m512 log2e = _mm512_set1_ps(1.44269504f), ln2hi = _mm512_set1_ps(0.693359375f);
    const __m512 ln2lo = _mm512_set1_ps(-2.12194440e-4f), one = _mm512_set1_ps(1.0f);
    const __m512 lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.3f);
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), v), lo), hi);
        __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fnmadd_ps(k, ln2hi, t);
        r = _mm512_fnmadd_ps(k, ln2lo, r);
        __m512 p = _mm512_set1_ps(1.9875691e-4f);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999e-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334520e-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665796e-2f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666666e-1f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001e-1f));
        p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, one));
        __m512 e = _mm512_scalef_ps(p, k);
        _mm512_mask_storeu_ps(x + i, m, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
}
#else
void gr_silu_avx512(float *x, long n) { (void)x; (void)n; }
#endif
