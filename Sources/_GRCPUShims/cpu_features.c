#include "GRCPUShims.h"

// `__builtin_cpu_supports` (GCC / clang runtime) reads CPUID once and also checks, through XGETBV,
// that the OS saves the wide registers, so a "yes" means the instructions are usable.
int gr_cpu_supports_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512cd");
#else
    return 0;
#endif
}

int gr_cpu_supports_avx2_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}
