// Host emulation of the CUDA features the GR kernels use: a launch runs blockDim.x host threads
// that walk the blocks in sequence together (a block-end barrier keeps them in step, so the
// static "shared memory" is reused safely), __syncthreads is a barrier, warp shuffles go through a
// block-wide exchange buffer (every shuffle in the kernels is block-uniform), atomics are host
// atomics. Only for checking kernel logic where no GPU is available. Hopper's warpgroup MMA
// (wgmma) and shared addresses: emu_wgmma.h.
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <atomic>

#define __global__
#define __launch_bounds__(...)
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct uint4 { unsigned x, y, z, w; };
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
struct dim3 { unsigned x = 1, y = 1, z = 1; };
extern thread_local dim3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
extern thread_local std::barrier<>* emu_barrier;
extern char emu_dynamic_shared[];
extern unsigned long long emu_exchange[1024];

inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline void __syncthreads() { emu_barrier->arrive_and_wait(); }
// A block-wide barrier standing in for the warp's (so only in block-uniform control flow).
inline void __syncwarp(unsigned = 0xffffffffu) { emu_barrier->arrive_and_wait(); }
// The value of thread `src` (of the same warp) after every thread of the block has offered v.
template <typename T> inline T emu_shfl(T v, unsigned src) {
    unsigned t = threadIdx.x;
    unsigned long long bits = 0; std::memcpy(&bits, &v, sizeof(T));
    emu_barrier->arrive_and_wait();
    emu_exchange[t] = bits;
    emu_barrier->arrive_and_wait();
    unsigned long long r = emu_exchange[src];
    emu_barrier->arrive_and_wait();
    T out; std::memcpy(&out, &r, sizeof(T));
    return out;
}
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int o) { return emu_shfl(v, threadIdx.x ^ (unsigned)o); }
template <typename T> inline T __shfl_down_sync(unsigned, T v, int o) {
    return emu_shfl(v, (threadIdx.x & 31u) + (unsigned)o < 32u ? threadIdx.x + (unsigned)o : threadIdx.x);
}
template <typename T> inline T __shfl_sync(unsigned, T v, int src) { return emu_shfl(v, (threadIdx.x & ~31u) + ((unsigned)src & 31u)); }
inline bool __all_sync(unsigned, bool v) {
    unsigned t = threadIdx.x, w0 = t & ~31u;
    emu_barrier->arrive_and_wait();
    emu_exchange[t] = v ? 1 : 0;
    emu_barrier->arrive_and_wait();
    bool all = true;
    for (unsigned l = 0; l < 32; l++) all = all && emu_exchange[w0 + l] != 0;
    emu_barrier->arrive_and_wait();
    return all;
}
inline float atomicAdd(float* p, float v) {
    std::atomic_ref<float> a(*p);
    float old = a.load();
    while (!a.compare_exchange_weak(old, old + v)) {}
    return old;
}
inline double atomicAdd(double* p, double v) {
    std::atomic_ref<double> a(*p);
    double old = a.load();
    while (!a.compare_exchange_weak(old, old + v)) {}
    return old;
}
inline unsigned atomicAdd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_add(v); }
inline unsigned atomicOr(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_or(v); }
#include <math.h>
#include "emu_wgmma.h"
