#!/bin/bash
# Paired A/B of the serving forward's AVX2 kernels (Sources/_GRCPUShims: small GEMM, LayerNorm rows,
# fused attention) between a git ref (A, default main) and the working tree (B), on HSTU-large
# shapes (one 200-event user: D 50, UVQK 200 columns, 2 heads of 25). A and B are linked into one
# process and called alternately (the order flips every pair), so both see the same machine; it
# prints per kernel the minimum and median time of each and the median (and quartiles) of the
# per-pair ratio B/A, which is steady on a busy machine where single timings move ±25 %, and
# whether the outputs have the same bits. "aa" pairs A with itself (the harness's own bias).
#   bash scripts/serving-kernels-ab.sh [REF] [PAIRS]      (x86-64 with AVX2 + FMA, clang or cc)
set -euo pipefail
ref=${1:-main}
pairs=${2:-1000}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shim="$root/Sources/_GRCPUShims"
cc=$(command -v clang || command -v cc)
mkdir -p "$work/a"
for f in small_gemm_avx2.c layernorm_avx2.c hstu_infer_attention.c silu_avx2.h; do
    git -C "$root" show "$ref:Sources/_GRCPUShims/$f" > "$work/a/$f"
done
flags=(-O2 -falign-functions=64 -I"$shim/include")
# A's symbols renamed a_*
"$cc" "${flags[@]}" -c -Dgr_sgemm_small_avx2=a_sgemm -o "$work/a_gemm.o" "$work/a/small_gemm_avx2.c"
"$cc" "${flags[@]}" -c -Dgr_layernorm_rows_avx2=a_ln -o "$work/a_ln.o" "$work/a/layernorm_avx2.c"
"$cc" "${flags[@]}" -c -Dgr_hstu_infer_attention_avx2=a_attn -Dgr_hstu_bucket_bytes=a_bb -Dgr_hstu_buckets=a_b \
    -Dgr_silu_avx2=a_silu -Dgr_hstu_infer_scratch_floats=a_sf -o "$work/a_attn.o" "$work/a/hstu_infer_attention.c"
cat > "$work/ab.c" <<'C'
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "GRCPUShims.h"
void a_sgemm(const float *, long, const float *, long, long, long, int, float *, long, int);
void a_ln(const float *, long, const float *, long, float *, long, float *, float *, long, int, float);
void a_attn(const float *, const float *, const float *, long, int, int, int, int, const uint8_t *, const float *, int,
            const float *, float *, long, float *);
enum { L = 200 };
#define A64 __attribute__((aligned(4096)))   // every buffer page-aligned: A's and B's at the same offsets
static A64 float a[L * 50], w[50 * 200], c1[L * 200], c2[L * 200], x[L * 50], act[L * 200], mean[L], rstd[L];
static A64 float posRev[2 * L + 64], wts[129], o1[L * 50], o2[L * 50], s1[8192], s2[8192];
static uint8_t *bk;
static uint64_t rs = 88172645463325252ull;
static double rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (double)(rs >> 11) / 9007199254740992.0; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *p, const void *q) { double u = *(const double *)p, v = *(const double *)q; return u < v ? -1 : u > v; }
static void run(const char *k, int b) {   // b = 0: A into c1/o1, 1: B into c2/o2, 2: A into c2/o2
    void (*gemm)(const float *, long, const float *, long, long, long, int, float *, long, int) = b == 1 ? gr_sgemm_small_avx2 : a_sgemm;
    void (*ln)(const float *, long, const float *, long, float *, long, float *, float *, long, int, float) = b == 1 ? gr_layernorm_rows_avx2 : a_ln;
    float *c = b ? c2 : c1, *o = b ? o2 : o1, *s = b ? s2 : s1;
    if (!strcmp(k, "uvqk")) gemm(a, 50, w, 200, L, 200, 50, c, 200, GR_SGEMM_SILU);          // UVQK + SiLU
    else if (!strcmp(k, "kv")) gemm(a, 50, w + 150, 200, L, 50, 50, c, 50, GR_SGEMM_SILU);   // last layer's K block
    else if (!strcmp(k, "out") || !strcmp(k, "aa")) gemm(a, 50, w, 50, L, 50, 50, c, 50, GR_SGEMM_ACCUMULATE);
    else if (!strcmp(k, "ln")) ln(x, 50, 0, 0, c, 50, mean, rstd, L, 50, 1e-6f);
    else if (!strcmp(k, "lnu")) ln(x, 50, act, 200, c, 50, mean, rstd, L, 50, 1e-6f);
    else (b == 1 ? gr_hstu_infer_attention_avx2 : a_attn)(act + 100, act + 150, act + 50, 200, L, 2, 25, 25, bk, posRev, L, wts, o, 50, s);
}
int main(int argc, char **argv) {
    int pairs = atoi(argv[1]);
    for (int i = 0; i < L * 50; i++) { a[i] = (float)rnd() * 2 - 1; x[i] = (float)rnd() * 4 - 1; }
    for (int i = 0; i < 50 * 200; i++) w[i] = ((float)rnd() * 2 - 1) * 0.3f;
    for (int i = 0; i < L * 200; i++) act[i] = ((float)rnd() * 2 - 1) * 0.5f;
    for (int i = 0; i < 2 * L + 64; i++) posRev[i] = ((float)rnd() * 2 - 1) * 0.1f;
    for (int i = 0; i < 129; i++) wts[i] = ((float)rnd() * 2 - 1) * 0.1f;
    // chronological timestamps (gaps e^U(0, 4.2 or 14) s), buckets ⌊ln|Δ|/0.301⌋ ≤ 128 in gr_hstu_buckets' tiles
    static int64_t ts[L + 1];
    ts[0] = 1000000000;
    for (int i = 1; i <= L; i++) ts[i] = ts[i - 1] + (int64_t)exp(rnd() * 14 * (rnd() < 0.5 ? 0.3 : 1));
    bk = calloc((size_t)gr_hstu_bucket_bytes(L), 1);
    int blocks = (L + 31) / 32, shift = (32 - L % 32) % 32;
    for (int blk = 0; blk < blocks; blk++) {
        int i0 = 32 * blk - shift < 0 ? 0 : 32 * blk - shift, nq = 32 * (blk + 1) - shift - i0;
        for (int kb = 0; kb <= blk; kb++) {
            int j0 = 32 * kb - shift < 0 ? 0 : 32 * kb - shift, nk = 32 * (kb + 1) - shift - j0;
            uint8_t *tile = bk + ((long)blk * (blk + 1) / 2 + kb) * 1024;
            for (int c = 0; c < nk; c++)
                for (int r = 0; r < nq; r++) {
                    if (j0 + c > i0 + r) continue;
                    int64_t d = llabs(ts[i0 + r + 1] - ts[j0 + c]);
                    int b = (int)floor(log((double)(d < 1 ? 1 : d)) / 0.301);
                    tile[c * 32 + r] = (uint8_t)(b > 128 ? 128 : b);
                }
        }
    }
    const char *kernels[] = {"aa", "uvqk", "kv", "out", "ln", "lnu", "attention"};
    const int calls[] = {4, 1, 4, 4, 8, 8, 1};   // calls per timing (≥ 50 µs each)
    double *ta = malloc(sizeof(double) * pairs), *tb = malloc(sizeof(double) * pairs), *ra = malloc(sizeof(double) * pairs);
    for (int q = 0; q < 7; q++) {
        const char *k = kernels[q];
        int bb = strcmp(k, "aa") ? 1 : 2;
        memset(c1, 0, sizeof c1); memset(c2, 0, sizeof c2);
        for (int p = 0; p < pairs; p++) {
            double t0 = now();
            for (int i = 0; i < calls[q]; i++) run(k, p & 1 ? bb : 0);
            double t1 = now();
            for (int i = 0; i < calls[q]; i++) run(k, p & 1 ? 0 : bb);
            double t2 = now();
            ta[p] = p & 1 ? t2 - t1 : t1 - t0;
            tb[p] = p & 1 ? t1 - t0 : t2 - t1;
            ra[p] = tb[p] / ta[p];
        }
        int same = !strcmp(k, "attention") ? !memcmp(o1, o2, sizeof o1) : !memcmp(c1, c2, sizeof c1);
        qsort(ta, pairs, sizeof(double), cmp); qsort(tb, pairs, sizeof(double), cmp); qsort(ra, pairs, sizeof(double), cmp);
        const double us = 1e6 / calls[q];   // per call
        printf("%-9s A min %7.2f med %7.2f µs | B min %7.2f med %7.2f µs | B/A %.3f [%.3f, %.3f] %s\n", k, ta[0] * us,
               ta[pairs / 2] * us, tb[0] * us, tb[pairs / 2] * us, ra[pairs / 2], ra[pairs / 4], ra[3 * pairs / 4],
               same ? "same bits" : "bits differ");
    }
    return 0;
}
C
"$cc" "${flags[@]}" -o "$work/ab" "$work/ab.c" "$work/a_gemm.o" "$work/a_ln.o" "$work/a_attn.o" \
    "$shim/small_gemm_avx2.c" "$shim/layernorm_avx2.c" "$shim/hstu_infer_attention.c" -lm
echo "A = $ref ($(git -C "$root" rev-parse --short "$ref")), B = working tree; $(uptime | sed 's/.*load/load/')"
"$work/ab" "$pairs"
