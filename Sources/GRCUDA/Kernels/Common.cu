// Shared definitions of the GR CUDA kernels. The files of Kernels/ are concatenated in a fixed
// order (Common first) and compiled by NVRTC as one module; no standard headers are available.
// Conventions: every integer argument is `long long`, every pointer a plain device pointer, and a
// kernel's first doc line gives its shapes with the project's letters.

typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define GR_INF __int_as_float(0x7f800000)

// Philox4x32-10 (Random123), bit-identical to GRCore/Random/Philox.swift: number `index` of stream
// (seed, stream) is word index % 4 of block(counter = (index/4 lo, index/4 hi, stream lo, stream hi),
// key = (seed lo, seed hi)).
// The device step counter of replayed training steps (CUDABackend.captureStep): a stream id whose
// step bits 16..55 are all ones (never a real step) takes gr_step_now there.
__device__ u64 gr_step_now;
#define GR_STEP_BITS (0xFFFFFFFFFFull << 16)
__device__ __forceinline__ u64 gr_stream_id(u64 stream) {
    return (stream & GR_STEP_BITS) == GR_STEP_BITS ? (stream & ~GR_STEP_BITS) | (gr_step_now << 16) : stream;
}

// gr_step_now = step (one thread).
extern "C" __global__ void gr_step_set(i64 step) { gr_step_now = (u64)step; }
// gr_step_now += by (one thread; the last node of a captured step).
extern "C" __global__ void gr_step_advance(i64 by) { gr_step_now += (u64)by; }

__device__ __forceinline__ uint4 gr_philox_block(u64 blockIndex, u64 seed, u64 stream) {
    stream = gr_stream_id(stream);
    u32 c0 = (u32)blockIndex, c1 = (u32)(blockIndex >> 32), c2 = (u32)stream, c3 = (u32)(stream >> 32);
    u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
    #pragma unroll
    for (int r = 0; r < 10; r++) {
        u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        u32 n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    return make_uint4(c0, c1, c2, c3);
}

__device__ __forceinline__ u32 gr_philox_word(u64 index, u64 seed, u64 stream) {
    uint4 b = gr_philox_block(index >> 2, seed, stream);
    u32 lane = (u32)(index & 3);
    return lane == 0 ? b.x : lane == 1 ? b.y : lane == 2 ? b.z : b.w;
}

// keep iff uniform(i) >= p  <=>  (word >> 8) >= threshold = ceil(p * 2^24) (computed on the host).
__device__ __forceinline__ bool gr_keep(u64 index, u64 seed, u64 stream, u32 threshold) {
    return (gr_philox_word(index, seed, stream) >> 8) >= threshold;
}

__device__ __forceinline__ float gr_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// Time bucket (spec §2.3) through the per-power-of-two table of GRCore TimeBucket.fastBucket:
// table[4e..4e+3] = (base, t1, t2, t3) for floor(log2 |d|) = e.
__device__ __forceinline__ int gr_time_bucket(i64 delta, const u64* table) {
    u64 m = delta < 0 ? (u64)(-delta) : (u64)delta;
    if (m < 1) m = 1;
    int e = 63 - __clzll((long long)m);
    const u64* t = table + 4 * e;
    int b = (int)t[0];
    b += m >= t[1] ? 1 : 0;
    b += m >= t[2] ? 1 : 0;
    b += m >= t[3] ? 1 : 0;
    return b;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); `scratch` holds 32 floats.
__device__ __forceinline__ float gr_block_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = 0.0f;
    for (int w = 0; w < warps; w++) t += scratch[w];
    return t;
}

__device__ __forceinline__ float gr_block_max(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = -GR_INF;
    for (int w = 0; w < warps; w++) t = fmaxf(t, scratch[w]);
    return t;
}

#define GR_GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)
