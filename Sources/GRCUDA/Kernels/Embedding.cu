// EmbeddingOps. Out-of-range ids are skipped (the CPU backend stops on them; ids are checked on
// the host where they are made).

// out[r, :] (= or +=) scale·table[ids[r], :]; table (V, D), out (rows, D).
extern "C" __global__ void gr_embedding_fwd(const float* table, i64 vocab, const int* ids, float scale, float* out,
                                            i64 rows, i64 dim, i64 accumulate) {
    GR_GRID_STRIDE(i, rows * dim) {
        i64 r = i / dim, c = i % dim;
        int id = ids[r];
        float v = (id >= 0 && id < vocab) ? scale * table[(i64)id * dim + c] : 0.0f;
        if (accumulate) out[i] += v; else out[i] = v;
    }
}
// dTable[ids[r], :] += scale·dOut[r, :] (atomics), rows with id == paddingId (≥ 0) skipped.
extern "C" __global__ void gr_embedding_bwd(const float* dOut, const int* ids, float scale, float* dTable, i64 vocab,
                                            i64 rows, i64 dim, i64 paddingId) {
    GR_GRID_STRIDE(i, rows * dim) {
        i64 r = i / dim, c = i % dim;
        int id = ids[r];
        if (id < 0 || id >= vocab || (paddingId >= 0 && id == paddingId)) continue;
        atomicAdd(dTable + (i64)id * dim + c, scale * dOut[i]);
    }
}
