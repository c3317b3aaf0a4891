// Every f32 bit pattern through the serving forward's AVX2 SiLU (Sources/_GRCPUShims/silu_avx2.h:
// `gr_silu8x4` and `gr_silu8`, which must agree bit for bit) against x/(1 + e^−x) in double.
// Prints the worst relative error for x ≥ −80, NaN inputs whose result is not NaN, non-finite
// results of finite inputs, results below −80 off by more than 1e-34·|x|, and SiLU(±inf).
// x86-64 with AVX2 + FMA; ≈ 2–3 minutes on one core:
//   clang -O2 -o /tmp/silu-exhaustive scripts/silu-exhaustive.c -lm && /tmp/silu-exhaustive
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "../Sources/_GRCPUShims/silu_avx2.h"

GR_AVX2 static void silu_x4(float *a, long n) {
    for (long i = 0; i < n; i += 32) {
        __m256 v[4];
        for (int q = 0; q < 4; q++) v[q] = _mm256_loadu_ps(a + i + 8 * q);
        gr_silu8x4(v);
        for (int q = 0; q < 4; q++) _mm256_storeu_ps(a + i + 8 * q, v[q]);
    }
}

GR_AVX2 static void silu_x1(float *a, long n) {
    for (long i = 0; i < n; i += 8) _mm256_storeu_ps(a + i, gr_silu8(_mm256_loadu_ps(a + i)));
}

int main(void) {
    enum { C = 1 << 16 };
    static float xs[C], y4[C], y1[C];
    double worst = 0;
    float worstX = 0, plusInf = 0, minusInf = 0;
    long nanLost = 0, nonFinite = 0, low = 0, mismatches = 0;
    for (uint64_t base = 0; base < (1ull << 32); base += C) {
        for (int i = 0; i < C; i++) { uint32_t u = (uint32_t)(base + i); memcpy(&xs[i], &u, 4); }
        memcpy(y4, xs, sizeof xs);
        memcpy(y1, xs, sizeof xs);
        silu_x4(y4, C);
        silu_x1(y1, C);
        for (int i = 0; i < C; i++) {
            float x = xs[i];
            if (memcmp(&y4[i], &y1[i], 4)) mismatches++;
            if (isnan(x)) { if (!isnan(y4[i])) nanLost++; continue; }
            if (isinf(x)) { if (x > 0) plusInf = y4[i]; else minusInf = y4[i]; continue; }
            if (!isfinite(y4[i])) { nonFinite++; continue; }
            double want = (double)x / (1 + exp(-(double)x)), error = fabs(y4[i] - want);
            if (x < -80) { if (error > 1e-34 * fabs(x)) low++; continue; }
            if (error <= 1e-37) continue;
            if (error / fabs(want) > worst) { worst = error / fabs(want); worstX = x; }
        }
    }
    printf("worst relative error %.3g at x = %.9g (x >= -80)\n", worst, worstX);
    printf("NaN lost %ld, non-finite results %ld, below -80 off by > 1e-34|x| %ld, gr_silu8 != gr_silu8x4 %ld\n",
           nanLost, nonFinite, low, mismatches);
    printf("SiLU(+inf) = %g, SiLU(-inf) = %g\n", plusInf, minusInf);
    return worst <= 3.2e-7 && nanLost == 0 && nonFinite == 0 && low == 0 && mismatches == 0 ? 0 : 1;
}
