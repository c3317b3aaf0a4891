// The serving forward's HSTU attention (docs/inference.md, "Fused inference attention"): one
// user, one layer, all heads, forward only, AVX2 + FMA (compiled per function through
// `__attribute__((target))`; call only when `gr_cpu_supports_avx2_fma()` is 1). Same tiles as the
// CPU tile kernel (`HSTUAttentionKernel`, 32-row tiles aligned to the end of the sequence,
// transposed: rows = keys c, columns = queries r), with
// - the time buckets of every (query, key) pair computed once per user (`gr_hstu_buckets`, bytes)
//   and only gathered per layer: bias = wPos[N − 1 + j − i] + wTs[bucket];
// - S = K·Qᵀ register-blocked 4 keys × 16 queries (8 accumulators, nothing else live), then
//   + bias and SiLU (`gr_silu8x4`: 4 independent chains) in a pass of their own over the tile in
//   L1 (fused into the score loop, the SiLU's constants spilled its accumulators);
// - A·V register-blocked 5 value columns × 16 queries (10 accumulators; Dv = 25 has no tail);
// - 1/N applied once to the output instead of to every score;
// - on the diagonal tile, the lower 16 queries skip the keys above them (the causal mask).
#include "GRCPUShims.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "silu_avx2.h"

static inline int gr_bucket(int64_t delta, const gr_time_bucket_entry *table) {
    uint64_t m = delta < 0 ? (uint64_t)0 - (uint64_t)delta : (uint64_t)delta;
    if (m < 1) m = 1;
    const gr_time_bucket_entry *e = &table[63 - __builtin_clzll(m)];
    return e->base + (m >= e->t1) + (m >= e->t2) + (m >= e->t3);
}

/// Tile k of a sequence of length L (32-row tiles aligned to the end: the partial tile is tile 0).
static inline void gr_tile_range(int k, int L, int *start, int *count) {
    int shift = (32 - L % 32) % 32;
    int s = 32 * k - shift, e = 32 * (k + 1) - shift;
    if (s < 0) s = 0;
    if (e > L) e = L;
    *start = s;
    *count = e - s;
}

long gr_hstu_bucket_bytes(int L) {
    long blocks = (L + 31) / 32;
    return blocks * (blocks + 1) / 2 * 1024;
}

void gr_hstu_buckets(const int64_t *ts, int L, const gr_time_bucket_entry *table, const uint64_t *thresholds, uint8_t *out) {
    int blocks = (L + 31) / 32;
    for (int block = 0; block < blocks; block++) {
        int i0, nq;
        gr_tile_range(block, L, &i0, &nq);
        for (int kb = 0; kb <= block; kb++) {
            int j0, nk;
            gr_tile_range(kb, L, &j0, &nk);
            uint8_t *tile = out + ((long)block * (block + 1) / 2 + kb) * 1024;
            memset(tile, 0, 1024);
            for (int c = 0; c < nk; c++) {
                int j = j0 + c;
                uint64_t tk = (uint64_t)ts[j];
                int r0 = j - i0 < 0 ? 0 : j - i0;   // queries i ≥ j; Δ wraps like Swift's &-
                int b = -1;
                uint64_t lo = 1, hi = 0;            // [lo, hi): the magnitudes of bucket b (none yet)
                for (int r = r0; r < nq; r++) {
                    int64_t delta = (int64_t)((uint64_t)ts[i0 + r + 1] - tk);
                    uint64_t m = delta < 0 ? (uint64_t)0 - (uint64_t)delta : (uint64_t)delta;
                    if (m < 1) m = 1;
                    // Along a column the queries' timestamps usually grow, so |Δ| stays in or just
                    // past the previous bucket: check [thr[b], thr[b + 1]) and the next one before
                    // the table (any order of timestamps gives the table's answer).
                    if (!(m >= lo && m < hi)) {
                        if (b >= 0 && b < 128 && m >= hi && m < thresholds[b + 2]) b += 1;
                        else b = gr_bucket((int64_t)m, table);
                        lo = thresholds[b];
                        hi = thresholds[b + 1];
                    }
                    tile[c * 32 + r] = (uint8_t)b;
                }
            }
        }
    }
}

GR_AVX2 void gr_silu_avx2(float *x, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gr_silu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tail[8] = {0};
        for (long j = i; j < n; j++) tail[j - i] = x[j];
        _mm256_storeu_ps(tail, gr_silu8(_mm256_loadu_ps(tail)));
        for (long j = i; j < n; j++) x[j] = tail[j - i];
    }
}

/// Raw scores of keys c < nk for one 16-query half (lanes h0 ..< h0 + 16 of the tile):
/// sT[c][lanes] = k_c·q. 4 keys × 16 queries per step (8 accumulators: FMA latency 4 × 2 pipes),
/// nothing else live, so no spills. qT: (dqk, 32); k rows `stride` apart.
GR_AVX2 static void gr_scores_half(const float *k, long stride, int nk, int dqk, const float *qT, int h0, float *sT) {
    int c = 0;
    for (; c + 4 <= nk; c += 4) {
        const float *k0 = k + c * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        const float *q = qT + h0;
        for (int t = 0; t < dqk; t++, q += 32) {
            __m256 q0 = _mm256_loadu_ps(q), q1 = _mm256_loadu_ps(q + 8), b;
            b = _mm256_broadcast_ss(k0 + t); a00 = _mm256_fmadd_ps(b, q0, a00); a01 = _mm256_fmadd_ps(b, q1, a01);
            b = _mm256_broadcast_ss(k1 + t); a10 = _mm256_fmadd_ps(b, q0, a10); a11 = _mm256_fmadd_ps(b, q1, a11);
            b = _mm256_broadcast_ss(k2 + t); a20 = _mm256_fmadd_ps(b, q0, a20); a21 = _mm256_fmadd_ps(b, q1, a21);
            b = _mm256_broadcast_ss(k3 + t); a30 = _mm256_fmadd_ps(b, q0, a30); a31 = _mm256_fmadd_ps(b, q1, a31);
        }
        float *s = sT + c * 32 + h0;
        _mm256_storeu_ps(s, a00); _mm256_storeu_ps(s + 8, a01);
        _mm256_storeu_ps(s + 32, a10); _mm256_storeu_ps(s + 40, a11);
        _mm256_storeu_ps(s + 64, a20); _mm256_storeu_ps(s + 72, a21);
        _mm256_storeu_ps(s + 96, a30); _mm256_storeu_ps(s + 104, a31);
    }
    for (; c < nk; c++) {   // 2 keys' chains per step would be latency-bound as well: 1 key, 4 chains
        const float *k0 = k + c * stride, *q = qT + h0;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
        int t = 0;
        for (; t + 2 <= dqk; t += 2, q += 64) {
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(k0 + t), _mm256_loadu_ps(q), a0);
            a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(k0 + t), _mm256_loadu_ps(q + 8), a1);
            b0 = _mm256_fmadd_ps(_mm256_broadcast_ss(k0 + t + 1), _mm256_loadu_ps(q + 32), b0);
            b1 = _mm256_fmadd_ps(_mm256_broadcast_ss(k0 + t + 1), _mm256_loadu_ps(q + 40), b1);
        }
        if (t < dqk) {
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(k0 + t), _mm256_loadu_ps(q), a0);
            a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(k0 + t), _mm256_loadu_ps(q + 8), a1);
        }
        float *s = sT + c * 32 + h0;
        _mm256_storeu_ps(s, _mm256_add_ps(a0, b0));
        _mm256_storeu_ps(s + 8, _mm256_add_ps(a1, b1));
    }
}

/// In place on keys c < nk of one 16-query half: aT[c][lanes] = SiLU(sT[c][lanes] + biasT[c][lanes]),
/// zeroed outside c ≤ lane < nq when `diagonal` (the causal mask; lanes past nq hold zero queries).
/// A pass of its own so the SiLU's constants stay in registers (fused into the 8-accumulator
/// score loop they spilled).
GR_AVX2 static void gr_silu_bias_half(float *sT, const float *biasT, int nk, int h0, int diagonal, int nq) {
    const __m256 lane0 = _mm256_add_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_ps((float)h0));
    const __m256 lane1 = _mm256_add_ps(lane0, _mm256_set1_ps(8.0f));
    const __m256 hi = _mm256_set1_ps((float)nq);
    for (int c = 0; c < nk; c += 2) {   // 2 keys (4 vectors) per step; an odd last key repeats key c
        int c1 = c + 1 < nk ? c + 1 : c, row0 = c * 32 + h0, row1 = c1 * 32 + h0;
        __m256 s[4] = {_mm256_add_ps(_mm256_loadu_ps(sT + row0), _mm256_loadu_ps(biasT + row0)),
                       _mm256_add_ps(_mm256_loadu_ps(sT + row0 + 8), _mm256_loadu_ps(biasT + row0 + 8)),
                       _mm256_add_ps(_mm256_loadu_ps(sT + row1), _mm256_loadu_ps(biasT + row1)),
                       _mm256_add_ps(_mm256_loadu_ps(sT + row1 + 8), _mm256_loadu_ps(biasT + row1 + 8))};
        gr_silu8x4(s);
        if (diagonal) {
            __m256 lo0 = _mm256_set1_ps((float)c), lo1 = _mm256_set1_ps((float)c1);
            __m256 in0 = _mm256_cmp_ps(lane0, hi, _CMP_LT_OQ), in1 = _mm256_cmp_ps(lane1, hi, _CMP_LT_OQ);
            s[0] = _mm256_and_ps(s[0], _mm256_and_ps(_mm256_cmp_ps(lane0, lo0, _CMP_GE_OQ), in0));
            s[1] = _mm256_and_ps(s[1], _mm256_and_ps(_mm256_cmp_ps(lane1, lo0, _CMP_GE_OQ), in1));
            s[2] = _mm256_and_ps(s[2], _mm256_and_ps(_mm256_cmp_ps(lane0, lo1, _CMP_GE_OQ), in0));
            s[3] = _mm256_and_ps(s[3], _mm256_and_ps(_mm256_cmp_ps(lane1, lo1, _CMP_GE_OQ), in1));
        }
        _mm256_storeu_ps(sT + row1, s[2]);   // row1 = row0 for an odd last key: same values
        _mm256_storeu_ps(sT + row1 + 8, s[3]);
        _mm256_storeu_ps(sT + row0, s[0]);
        _mm256_storeu_ps(sT + row0 + 8, s[1]);
    }
}

/// Columns x0 ..< x0 + X (X ≤ 5) of oT[x][h0 ..< h0 + 16] += Σ_{c < nk} v_c[x] · aT[c][h0 ..< h0 + 16];
/// v rows `stride` apart. X = 5 keeps 10 accumulators (dv = 25 = 5 × 5, no latency-bound tail);
/// X is a constant at every call, so the loop unrolls.
#define GR_VALUES_COLUMNS(X)                                                                                         \
    GR_AVX2 static inline void gr_values_cols##X(const float *v, long stride, int nk, const float *aT, int h0,        \
                                                 float *oT, int x0) {                                                \
        __m256 acc0[X], acc1[X];                                                                                     \
        float *o = oT + x0 * 32 + h0;                                                                                \
        for (int x = 0; x < X; x++) { acc0[x] = _mm256_loadu_ps(o + 32 * x); acc1[x] = _mm256_loadu_ps(o + 32 * x + 8); } \
        const float *vr = v + x0, *a = aT + h0;                                                                      \
        for (int c = 0; c < nk; c++, vr += stride, a += 32) {                                                        \
            __m256 p0 = _mm256_loadu_ps(a), p1 = _mm256_loadu_ps(a + 8);                                             \
            for (int x = 0; x < X; x++) {                                                                            \
                __m256 b = _mm256_broadcast_ss(vr + x);                                                              \
                acc0[x] = _mm256_fmadd_ps(b, p0, acc0[x]);                                                           \
                acc1[x] = _mm256_fmadd_ps(b, p1, acc1[x]);                                                           \
            }                                                                                                        \
        }                                                                                                            \
        for (int x = 0; x < X; x++) { _mm256_storeu_ps(o + 32 * x, acc0[x]); _mm256_storeu_ps(o + 32 * x + 8, acc1[x]); } \
    }
GR_VALUES_COLUMNS(5)
GR_VALUES_COLUMNS(4)
GR_VALUES_COLUMNS(3)
GR_VALUES_COLUMNS(2)
GR_VALUES_COLUMNS(1)

/// oT[x][h0 ..< h0 + 16] += Σ_{c < nk} v_c[x] · aT[c][h0 ..< h0 + 16] for x < dv.
GR_AVX2 static void gr_values_half(const float *v, long stride, int nk, int dv, const float *aT, int h0, float *oT) {
    int x = 0;
    for (; x + 5 <= dv; x += 5) gr_values_cols5(v, stride, nk, aT, h0, oT, x);
    switch (dv - x) {
    case 4: gr_values_cols4(v, stride, nk, aT, h0, oT, x); break;
    case 3: gr_values_cols3(v, stride, nk, aT, h0, oT, x); break;
    case 2: gr_values_cols2(v, stride, nk, aT, h0, oT, x); break;
    case 1: gr_values_cols1(v, stride, nk, aT, h0, oT, x); break;
    default: break;
    }
}

/// 8 vectors r[i] (rows of an 8×8 block) → its columns, in place.
GR_AVX2 static inline void gr_transpose8x8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/// Qᵀ of a query block: qT[t][r] = q[r][t] for t < width (= H·dqk: head h's Qᵀ (dqk, 32) starts at
/// row h·dqk), r < 32, 0 for r ≥ nq; q rows `stride` apart. 8×8 blocks, a scalar tail of columns.
GR_AVX2 static void gr_transpose_q(const float *q, long stride, int nq, int width, float *qT) {
    int t0 = 0;
    for (; t0 + 8 <= width; t0 += 8) {
        for (int r0 = 0; r0 < 32; r0 += 8) {
            __m256 b[8];
            for (int i = 0; i < 8; i++) b[i] = r0 + i < nq ? _mm256_loadu_ps(q + (long)(r0 + i) * stride + t0) : _mm256_setzero_ps();
            gr_transpose8x8(b);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(qT + (long)(t0 + i) * 32 + r0, b[i]);
        }
    }
    for (int t = t0; t < width; t++)
        for (int r = 0; r < 32; r++) qT[(long)t * 32 + r] = r < nq ? q[(long)r * stride + t] : 0;
}

/// out[r][x] = oT[x][r]·scale for r < nq, x < width (= H·dv); out rows `outStride` apart.
GR_AVX2 static void gr_transpose_out(const float *oT, int nq, int width, float scale, float *out, long outStride) {
    const __m256 s = _mm256_set1_ps(scale);
    int x0 = 0;
    for (; x0 + 8 <= width; x0 += 8) {
        for (int r0 = 0; r0 < nq; r0 += 8) {
            __m256 b[8];
            for (int i = 0; i < 8; i++) b[i] = _mm256_loadu_ps(oT + (long)(x0 + i) * 32 + r0);
            gr_transpose8x8(b);
            for (int i = 0; i < 8 && r0 + i < nq; i++) _mm256_storeu_ps(out + (long)(r0 + i) * outStride + x0, _mm256_mul_ps(b[i], s));
        }
    }
    for (int r = 0; r < nq; r++)
        for (int x = x0; x < width; x++) out[(long)r * outStride + x] = oT[(long)x * 32 + r] * scale;
}

long gr_hstu_infer_scratch_floats(int heads, int dqk, int dv) {
    return 2 * 1024 + (long)heads * (dqk + dv) * 32;
}

GR_AVX2 void gr_hstu_infer_attention_avx2(const float *q, const float *k, const float *v, long stride, int L, int heads,
                                          int dqk, int dv, const uint8_t *buckets, const float *posRev, int n,
                                          const float *wTs, float *out, long outStride, float *scratch) {
    float *biasT = scratch, *aT = scratch + 1024, *qT = scratch + 2048, *oT = qT + (long)heads * dqk * 32;
    const float invN = 1.0f / (float)n;
    float wTsPadded[256 + 8];   // wTs (129 weights; buckets are bytes) readable 8 past any bucket
    memcpy(wTsPadded, wTs, 129 * sizeof(float));
    memset(wTsPadded + 129, 0, (256 + 8 - 129) * sizeof(float));
    int blocks = (L + 31) / 32;
    for (int block = 0; block < blocks; block++) {
        int i0, nq;
        gr_tile_range(block, L, &i0, &nq);
        gr_transpose_q(q + (long)i0 * stride, stride, nq, heads * dqk, qT);
        memset(oT, 0, sizeof(float) * (size_t)heads * dv * 32);
        const uint8_t *tiles = buckets + (long)block * (block + 1) / 2 * 1024;
        for (int kb = 0; kb <= block; kb++) {
            int j0, nk;
            gr_tile_range(kb, L, &j0, &nk);
            int diagonal = kb == block;
            // biasT[c][r] = wPos[N − 1 + j − i] + wTs[bucket] (posRev reversed and padded by 32).
            // 8 queries of one key mostly share a few neighbouring buckets (a key far in the past):
            // when their buckets lie in [b0, b0 + 8) (b0 = the first one), one permute of
            // wTs[b0 ..< b0 + 8] replaces the gather (`vgatherdps` costs ≈ 8 cycles here).
            const uint8_t *bk = tiles + kb * 1024;
            for (int c = 0; c < nk; c++) {
                const float *pos = posRev + 32 + n - 1 + i0 - (j0 + c);
                for (int r = 0; r < 32; r += 8) {
                    const uint8_t *b8 = bk + c * 32 + r;
                    __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)b8));
                    __m256i rel = _mm256_sub_epi32(idx, _mm256_set1_epi32(b8[0]));
                    __m256 w = _mm256_testz_si256(rel, _mm256_set1_epi32(~7))
                                   ? _mm256_permutevar8x32_ps(_mm256_loadu_ps(wTsPadded + b8[0]), rel)
                                   : _mm256_i32gather_ps(wTs, idx, 4);
                    _mm256_storeu_ps(biasT + c * 32 + r, _mm256_add_ps(w, _mm256_loadu_ps(pos + r)));
                }
            }
            for (int h = 0; h < heads; h++) {
                const float *kh = k + (long)j0 * stride + h * dqk, *vh = v + (long)j0 * stride + h * dv;
                const float *qh = qT + (long)h * dqk * 32;
                float *oh = oT + (long)h * dv * 32;
                // Lanes 0..<16, then 16..<32 (only when nq > 16). On the diagonal (j0 = i0) the
                // keys c ≥ 16 are masked for queries r < 16.
                int nk0 = diagonal && nk > 16 ? 16 : nk;
                gr_scores_half(kh, stride, nk0, dqk, qh, 0, aT);
                gr_silu_bias_half(aT, biasT, nk0, 0, diagonal, nq);
                gr_values_half(vh, stride, nk0, dv, aT, 0, oh);
                if (nq > 16) {
                    gr_scores_half(kh, stride, nk, dqk, qh, 16, aT);
                    gr_silu_bias_half(aT, biasT, nk, 16, diagonal, nq);
                    gr_values_half(vh, stride, nk, dv, aT, 16, oh);
                }
            }
        }
        gr_transpose_out(oT, nq, heads * dv, invN, out + (long)i0 * outStride, outStride);
    }
}
#else
long gr_hstu_bucket_bytes(int L) { return 0; (void)L; }
void gr_hstu_buckets(const int64_t *ts, int L, const gr_time_bucket_entry *table, const uint64_t *thresholds, uint8_t *out) {
    (void)ts; (void)L; (void)table; (void)thresholds; (void)out;
}
void gr_silu_avx2(float *x, long n) { (void)x; (void)n; }
long gr_hstu_infer_scratch_floats(int heads, int dqk, int dv) { (void)heads; (void)dqk; (void)dv; return 0; }
void gr_hstu_infer_attention_avx2(const float *q, const float *k, const float *v, long stride, int L, int heads,
                                  int dqk, int dv, const uint8_t *buckets, const float *posRev, int n,
                                  const float *wTs, float *out, long outStride, float *scratch) {
    (void)q; (void)k; (void)v; (void)stride; (void)L; (void)heads; (void)dqk; (void)dv; (void)buckets;
    (void)posRev; (void)n; (void)wTs; (void)out; (void)outStride; (void)scratch;
}
#endif
