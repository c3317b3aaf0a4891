#ifndef GR_CPU_SHIMS_H
#define GR_CPU_SHIMS_H

/// 1 when the CPU and the OS support the AVX-512 subsets the AVX-512 GEMM kernel is compiled for
/// (F, VL, BW, DQ, CD: `-target-cpu skylake-avx512`), else 0. Always 0 off x86-64.
int gr_cpu_supports_avx512(void);

/// 1 when the CPU supports AVX2 and FMA (the Haswell floor of the x86-64 build), else 0.
int gr_cpu_supports_avx2_fma(void);

#endif
