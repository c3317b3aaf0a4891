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

// TargetRankOps (full-corpus rank of each user's target, seen items removed), in four kernels per
// batch: mark the seen ids in a (B, W) bitmap, pick the target's score out of the score block that
// holds its corpus position, count the unseen corpus items ordered before the target, turn counts
// into ranks. "Before" is the host evaluator's order: the larger gr_topk_key (score descending, NaN
// as −inf, ties to the lower corpus position), so the rank equals the host's first-k-unseen list.

// bits (B, words) |= 1 << id for the ids seen[offsets[b] ..< offsets[b + 1]] (one block per user).
extern "C" __global__ void gr_rank_seen_bits(const int* seen, const int* offsets, i64 users, i64 vocab, u32* bits, i64 words) {
    i64 b = blockIdx.x;
    if (b >= users) return;
    for (i64 i = offsets[b] + threadIdx.x; i < offsets[b + 1]; i += blockDim.x) {
        int id = seen[i];
        if (id >= 0 && id < vocab) atomicOr(bits + b * words + (id >> 5), 1u << (id & 31));
    }
}

// targetPos[b] = corpus position of targets[b] (−1: not in the corpus); counts[b] = 0.
extern "C" __global__ void gr_rank_init(const int* targets, const int* position, i64 users, i64 vocab,
                                        int* targetPos, unsigned int* counts) {
    GR_GRID_STRIDE(b, users) {
        int t = targets[b];
        targetPos[b] = (t >= 0 && t < vocab) ? position[t] : -1;
        counts[b] = 0;
    }
}

// targetScore[b] = scores[b, targetPos[b] − c0] when that position is in this block (c0 ..< c0 + nb).
extern "C" __global__ void gr_rank_pick(const float* scores, i64 ld, i64 users, i64 c0, i64 nb, const int* targetPos,
                                        float* targetScore) {
    GR_GRID_STRIDE(b, users) {
        i64 p = targetPos[b];
        if (p >= c0 && p < c0 + nb) targetScore[b] = scores[b * ld + (p - c0)];
    }
}

// counts[b] += #{ j < nb : corpus[c0 + j] unseen by b, key(scores[b, j], c0 + j) > key(target) }.
// Grid (chunks, B); blockDim a multiple of 32.
extern "C" __global__ void gr_rank_count(const float* scores, i64 ld, i64 users, i64 c0, i64 nb, const int* corpus,
                                         const int* targetPos, const float* targetScore, const u32* bits, i64 words,
                                         unsigned int* counts) {
    __shared__ unsigned int partial[32];
    i64 b = blockIdx.y;
    i64 tp = targetPos[b];
    if (tp < 0) return;
    u64 keyT = gr_topk_key(targetScore[b], tp);
    const u32* seen = bits + b * words;
    unsigned int c = 0;
    for (i64 j = blockIdx.x * (i64)blockDim.x + threadIdx.x; j < nb; j += (i64)gridDim.x * blockDim.x) {
        int id = corpus[c0 + j];
        if ((seen[id >> 5] >> (id & 31)) & 1u) continue;
        if (gr_topk_key(scores[b * ld + j], c0 + j) > keyT) c++;
    }
    for (int o = 16; o > 0; o >>= 1) c += __shfl_xor_sync(0xffffffffu, c, o);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = c;
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned int t = 0;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) t += partial[w];
        if (t) atomicAdd(counts + b, t);
    }
}

// ranks[b] = counts[b] + 1 when the target is in the corpus, unseen and within the first k; else absent.
extern "C" __global__ void gr_rank_finish(const int* targets, const int* targetPos, const unsigned int* counts,
                                          const u32* bits, i64 words, i64 users, i64 k, i64 absent, int* ranks) {
    GR_GRID_STRIDE(b, users) {
        int t = targets[b];
        i64 r = absent;
        if (targetPos[b] >= 0 && !((bits[b * words + (t >> 5)] >> (t & 31)) & 1u)) {
            i64 c = (i64)counts[b] + 1;
            if (c <= k) r = c;
        }
        ranks[b] = (int)r;
    }
}
