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

// BatchAssemblyOps: one block per sequence b; window[b] = (first event, L_b, jagged row start).
// ts (B, N) i64; positives/rows (T) in jagged order; ids/positions (T) jagged, or (B, N) when dense
// (the target id at L_b, zeros after). items/times: the resident events.
extern "C" __global__ void gr_assemble_batch(const int* items, const i64* times, const i64* window, i64 N, i64 dense,
                                             int* ids, int* positions, i64* ts, int* positives, int* rows) {
    i64 b = blockIdx.x;
    i64 first = window[3 * b], L = window[3 * b + 1], start = window[3 * b + 2];
    for (i64 p = threadIdx.x; p < N; p += blockDim.x) {
        ts[b * N + p] = p <= L ? times[first + p] : 0;
        if (dense) {
            ids[b * N + p] = p <= L ? items[first + p] : 0;
            positions[b * N + p] = (int)p;
        } else if (p < L) {
            ids[start + p] = items[first + p];
            positions[start + p] = (int)p;
        }
        if (p < L) {
            positives[start + p] = items[first + p + 1];
            rows[start + p] = (int)(dense ? b * N + p : start + p);
        }
    }
}
