// Split-K reductions for small outputs over many rows (the weight and bias gradients of a linear
// layer: dW = dYᵀ·X with m, n ≤ 256 and k = rows ≈ 27 000 for SASRec on ML-1M; db = Σ_r dY).
// cuBLASLt's heuristic picks one CTA per 64 × 64 output tile for these shapes (55 µs for
// 50 × 50 × 27008 on an H100, one SM busy); here each CTA reduces a chunk of kc rows into its own
// partial (chunks × m × n, f32 FMA), and gr_splitk_reduce adds the partials in a fixed order
// (deterministic, no atomics): out = α·Σ_z partial[z] + β·out.

#define GR_SK_TILE 64
#define GR_SK_STEP 16

// partial[z] (m × n, dense) = Σ_{p ∈ chunk z} A[p·lda + i] · B[p·ldb + j]: C = op(A)·op(B) with
// transA (A stored k × m) and not transB (B stored k × n), rows p0 = z·kc ..< min(p0 + kc, k).
// grid (⌈n/64⌉, ⌈m/64⌉, chunks), block 256: thread (tx = tid % 16, ty = tid / 16) owns the 4 × 4
// outputs (ty + 16a, tx + 16e) of the CTA's 64 × 64 tile; 16-row steps of A and B in shared memory.
extern "C" __global__ void gr_gemm_tn_splitk(const float* a, i64 lda, const float* b, i64 ldb, i64 m, i64 n, i64 k,
                                             i64 kc, float* partial) {
    __shared__ float As[GR_SK_STEP * GR_SK_TILE];
    __shared__ float Bs[GR_SK_STEP * GR_SK_TILE];
    int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    i64 j0 = (i64)blockIdx.x * GR_SK_TILE, i0 = (i64)blockIdx.y * GR_SK_TILE, p0 = (i64)blockIdx.z * kc;
    i64 p1 = p0 + kc < k ? p0 + kc : k;
    float acc[4][4];
    #pragma unroll
    for (int x = 0; x < 4; x++) {
        #pragma unroll
        for (int e = 0; e < 4; e++) acc[x][e] = 0.0f;
    }
    for (i64 p = p0; p < p1; p += GR_SK_STEP) {
        for (int x = tid; x < GR_SK_STEP * GR_SK_TILE; x += blockDim.x) {
            int r = x / GR_SK_TILE, c = x % GR_SK_TILE;
            i64 pp = p + r;
            As[x] = pp < p1 && i0 + c < m ? a[pp * lda + i0 + c] : 0.0f;
            Bs[x] = pp < p1 && j0 + c < n ? b[pp * ldb + j0 + c] : 0.0f;
        }
        __syncthreads();
        #pragma unroll
        for (int r = 0; r < GR_SK_STEP; r++) {
            float av[4], bv[4];
            #pragma unroll
            for (int e = 0; e < 4; e++) { av[e] = As[r * GR_SK_TILE + ty + 16 * e]; bv[e] = Bs[r * GR_SK_TILE + tx + 16 * e]; }
            #pragma unroll
            for (int x = 0; x < 4; x++) {
                #pragma unroll
                for (int e = 0; e < 4; e++) acc[x][e] += av[x] * bv[e];
            }
        }
        __syncthreads();
    }
    float* out = partial + (i64)blockIdx.z * m * n;
    #pragma unroll
    for (int x = 0; x < 4; x++) {
        i64 i = i0 + ty + 16 * x;
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            i64 j = j0 + tx + 16 * e;
            if (i < m && j < n) out[i * n + j] = acc[x][e];
        }
    }
}

// partial[z][c] = Σ_{r ∈ chunk z} dOut[r·cols + c], rows z·rc ..< min((z + 1)·rc, rows). grid chunks,
// block 256: per pass of w = min(cols − c0, 256) columns, thread t sums column t % w over the rows
// r ≡ t / w (mod 256 / w), then the phases are added in order.
extern "C" __global__ void gr_bias_bwd_partial(const float* dOut, i64 rows, i64 cols, i64 rc, float* partial) {
    __shared__ float sums[256];
    i64 r0 = (i64)blockIdx.x * rc, r1 = r0 + rc < rows ? r0 + rc : rows;
    for (i64 c0 = 0; c0 < cols; c0 += 256) {
        i64 w = cols - c0 < 256 ? cols - c0 : 256;
        i64 phases = 256 / w, c = threadIdx.x % w, ph = threadIdx.x / w;
        float s = 0.0f;
        if (ph < phases) for (i64 r = r0 + ph; r < r1; r += phases) s += dOut[r * cols + c0 + c];
        sums[threadIdx.x] = s;
        __syncthreads();
        if (threadIdx.x < w) {
            float t = 0.0f;
            for (i64 q = 0; q < phases; q++) t += sums[q * w + threadIdx.x];
            partial[(i64)blockIdx.x * cols + c0 + threadIdx.x] = t;
        }
        __syncthreads();
    }
}

// out[i·ldc + j] = α·Σ_z partial[z·m·n + i·n + j] + β·out[i·ldc + j] (β = 0: out is not read).
// grid ⌈m·n/32⌉, block 256: warp w sums the chunks z ≡ w (mod 8) of the CTA's 32 outputs, then
// warp 0 adds the 8 sums in order.
extern "C" __global__ void gr_splitk_reduce(const float* partial, i64 chunks, i64 m, i64 n, float alpha, float beta,
                                            float* out, i64 ldc) {
    __shared__ float sums[8 * 33];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    i64 mn = m * n, idx = (i64)blockIdx.x * 32 + lane;
    float s = 0.0f;
    if (idx < mn) for (i64 z = w; z < chunks; z += 8) s += partial[z * mn + idx];
    sums[w * 33 + lane] = s;
    __syncthreads();
    if (w == 0 && idx < mn) {
        float t = 0.0f;
        for (int q = 0; q < 8; q++) t += sums[q * 33 + lane];
        float* o = out + (idx / n) * ldc + idx % n;
        *o = beta == 0.0f ? alpha * t : alpha * t + beta * *o;
    }
}
