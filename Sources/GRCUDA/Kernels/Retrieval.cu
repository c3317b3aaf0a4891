// RetrievalOps.topK: one block per row. Each score becomes a unique 64-bit key (order-preserving
// bits of the score, NaN read as −∞, then the inverted column index, so ties go to the lower
// index); the k-th largest key is found by a most-significant-bit-first radix select (64
// counting passes), the k keys ≥ it are gathered, and each one's rank is the number of gathered
// keys above it.

__device__ __forceinline__ u64 gr_topk_key(float s, i64 col) {
    u32 b = __float_as_uint(s);
    if (s != s) b = 0xff800000u;                 // NaN -> -inf
    u32 ord = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ((u64)ord << 32) | (u64)(0xffffffffu - (u32)col);
}

// scores (B, V) row stride ld; values (B, k) f32, indices (B, k) i32; scratch (B, k) u64.
extern "C" __global__ void gr_topk(const float* scores, i64 columns, i64 ld, i64 k, float* values, int* indices, u64* scratch) {
    __shared__ unsigned int counts[32];
    __shared__ unsigned int total;
    __shared__ unsigned int gathered;
    i64 row = blockIdx.x;
    const float* s = scores + row * ld;
    u64 prefix = 0, mask = 0;
    i64 remaining = k;
    for (int bit = 63; bit >= 0; bit--) {
        u64 b = 1ull << bit;
        u64 m = mask | b, want = prefix | b;
        unsigned int c = 0;
        for (i64 j = threadIdx.x; j < columns; j += blockDim.x) c += ((gr_topk_key(s[j], j) & m) == want) ? 1u : 0u;
        for (int o = 16; o > 0; o >>= 1) c += __shfl_xor_sync(0xffffffffu, c, o);
        __syncthreads();
        if ((threadIdx.x & 31) == 0) counts[threadIdx.x >> 5] = c;
        __syncthreads();
        if (threadIdx.x == 0) { unsigned int t = 0; for (int w = 0; w < (int)(blockDim.x >> 5); w++) t += counts[w]; total = t; }
        __syncthreads();
        if ((i64)total >= remaining) prefix = want; else remaining -= total;
        mask = m;
    }
    // prefix is now the k-th largest key
    if (threadIdx.x == 0) gathered = 0;
    __syncthreads();
    u64* keys = scratch + row * k;
    for (i64 j = threadIdx.x; j < columns; j += blockDim.x) {
        u64 key = gr_topk_key(s[j], j);
        if (key >= prefix) keys[atomicAdd(&gathered, 1u)] = key;
    }
    __syncthreads();
    for (i64 e = threadIdx.x; e < k; e += blockDim.x) {
        u64 key = keys[e];
        i64 rank = 0;
        for (i64 f = 0; f < k; f++) rank += keys[f] > key ? 1 : 0;
        i64 col = (i64)(0xffffffffu - (u32)(key & 0xffffffffu));
        float v = s[col];
        values[row * k + rank] = (v != v) ? -GR_INF : v;
        indices[row * k + rank] = (int)col;
    }
}
