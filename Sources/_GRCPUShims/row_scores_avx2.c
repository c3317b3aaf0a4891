// The incremental encoders' attention scores (docs/inference.md "Incremental scores"): one query
// row against up to N cached keys, 8 keys per step, AVX2 + FMA. Each key's 8-float chunks meet the
// query's in 8 accumulators (one per key), which a `vhaddps` tree folds into one vector of the 8
// keys' sums: no per-key horizontal sum, no scalar tail (the last chunk is a masked load).
#include "GRCPUShims.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include "silu_avx2.h"

GR_AVX2 void gr_row_scores_avx2(const float *q, const float *k, long stride, int count, int d, float *out) {
    const int chunks = d / 8, tail = d % 8;
    const __m256i tailMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int j0 = 0; j0 < count; j0 += 8) {
        const float *kr[8];
        for (int x = 0; x < 8; x++) kr[x] = k + (long)(j0 + x < count ? j0 + x : count - 1) * stride;   // past the end: repeat the last key
        __m256 a[8];
        for (int x = 0; x < 8; x++) a[x] = _mm256_setzero_ps();
        for (int c = 0; c < chunks; c++) {
            __m256 qc = _mm256_loadu_ps(q + 8 * c);
            for (int x = 0; x < 8; x++) a[x] = _mm256_fmadd_ps(qc, _mm256_loadu_ps(kr[x] + 8 * c), a[x]);
        }
        if (tail) {
            __m256 qc = _mm256_maskload_ps(q + 8 * chunks, tailMask);
            for (int x = 0; x < 8; x++) a[x] = _mm256_fmadd_ps(qc, _mm256_maskload_ps(kr[x] + 8 * chunks, tailMask), a[x]);
        }
        // lanes of hadd(hadd(a0, a1), hadd(a2, a3)): [a0 a1 a2 a3 | a0 a1 a2 a3] partial sums (low, high halves)
        __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
        __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
        __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
        if (count - j0 >= 8) _mm256_storeu_ps(out + j0, sum);
        else _mm256_maskstore_ps(out + j0, _mm256_cmpgt_epi32(_mm256_set1_epi32(count - j0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), sum);
    }
}
#else
void gr_row_scores_avx2(const float *q, const float *k, long stride, int count, int d, float *out) {
    (void)q; (void)k; (void)stride; (void)count; (void)d; (void)out;
}
#endif
