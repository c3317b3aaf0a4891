#ifndef GR_CPU_SHIMS_H
#define GR_CPU_SHIMS_H

/// 1 when the CPU and the OS support the AVX-512 subsets the AVX-512 GEMM kernel is compiled for
/// (F, VL, BW, DQ, CD: `-target-cpu skylake-avx512`), else 0. Always 0 off x86-64.
int gr_cpu_supports_avx512(void);

/// 1 when the CPU supports AVX2 and FMA (the Haswell floor of the x86-64 build), else 0.
int gr_cpu_supports_avx2_fma(void);

/// Prefetches the cache line holding `p` for writing, into all cache levels (`prefetchw` /
/// `prefetcht0`). Inlined into Swift callers (the GEMM kernels prefetch their C tile before the
/// k loop, so its cache misses overlap the multiply instead of stalling the write-out).
static inline void gr_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Prefetches the cache line holding `p` for reading, into all cache levels (`prefetcht0`). The GEMM
/// packing of a transposed A (K × M stored, read in short runs of rows `lda` apart, each in its
/// own page, where the hardware prefetcher does not follow) fetches rows a few iterations ahead.
static inline void gr_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
