// Self-test of the emulated wgmma (emu_wgmma.h) against a naive matrix product: random bf16
// operands (multiples of 1/8 in [-2, 2], so every sum is exact and results must match bit for bit)
// laid out in shared memory as the PTX ISA's figures draw them (9.7.15.5.1.2, Figures 156/157/163:
// 16-byte chunks; the 128-byte swizzle stores chunk c of row r of an 8-row atom at chunk c ^ r), for
// the shapes and modes the wgmma attention forward uses and a few it does not. Runs through the
// emulator's own launch path (cuLaunchKernel, 128 host threads). Usage: wgmma_test [case]; the
// cases "nofence", "overwrite", "nowait" and "noproxy" must stop with the emulator's message
// (run-wgmma-test.sh checks).
#include "emu_cuda.h"
#include <string>
#include <random>

typedef unsigned short u16;
typedef unsigned u32;
typedef unsigned long long u64;
struct EmuKernel { const char* name; void (*fn)(void**); int params; };
extern "C" int cuLaunchKernel(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**);

static std::mt19937 rng(12345);
static u16 bf(float f) { u32 u; memcpy(&u, &f, 4); return (u16)(u >> 16); }   // exact for the values used
static float fl(u16 b) { u32 u = (u32)b << 16; float f; memcpy(&f, &u, 4); return f; }
static u16 rnd() { return bf((float)((int)(rng() % 33) - 16) / 8.0f); }
static u64 desc(u32 addr, u32 lbo, u32 sbo, u32 mode) {   // 9.7.15.5.1.2.2
    return (u64)((addr & 0x3ffffu) >> 4) | ((u64)((lbo & 0x3ffffu) >> 4) << 16) | ((u64)((sbo & 0x3ffffu) >> 4) << 32) | ((u64)mode << 62);
}
// The first 1024-aligned emulated shared address (and its host pointer) at or after byte `off`.
static u32 tileAt(u32 off) { u32 a = EMU_SMEM_BASE + off; return (a + 1023u) & ~1023u; }
static void put(u32 a, u16 v) { memcpy(emu_smem_ptr(a, 2), &v, 2); }
// A [rows][64] bf16 matrix as 128-byte rows, 128-byte swizzled (Figure 156/157: within each atom of
// 8 rows, 16-byte chunk c of row r sits at chunk c ^ r), atoms of 8 rows every 1024 bytes.
static void put128(u32 tile, const std::vector<u16>& m, int rows) {
    for (int r = 0; r < rows; r++) for (int c = 0; c < 64; c++)
        put(tile + 1024u * (r / 8) + 128u * (r % 8) + 16u * ((c / 8) ^ (r % 8)) + 2u * (c % 8), m[r * 64 + c]);
}
// The D fragment (Figure 149) of thread t: register i ↔ (row, column).
static void dcoord(int t, int i, int& row, int& col) {
    const int lane = t & 31, w = t >> 5;
    row = 16 * w + lane / 4 + 8 * ((i >> 1) & 1); col = 8 * (i >> 2) + 2 * (lane % 4) + (i & 1);
}
// The A fragment (Figure 148) of thread t from a [64][ldk] matrix at column k0.
static void afrag(int t, const std::vector<u16>& a, int ldk, int k0, u32 (&r)[4]) {
    const int lane = t & 31, w = t >> 5;
    for (int j = 0; j < 4; j++) {
        u32 v = 0;
        for (int h = 0; h < 2; h++) {
            const int e = 2 * j + h, row = 16 * w + lane / 4 + 8 * ((e >> 1) & 1), col = 2 * (lane % 4) + (e & 1) + 8 * (e >> 2);
            v |= (u32)a[row * ldk + k0 + col] << (16 * h);
        }
        r[j] = v;
    }
}

static std::string which;
static std::vector<u16> A, B;        // test operands
static std::vector<float> got;       // [64][N] from the fragments
static int N = 0, failures = 0;
static void collect(int t, const float* d, int n) {
    for (int i = 0; i < n / 2; i++) { int row, col; dcoord(t, i, row, col); got[row * n + col] = d[i]; }
}
// expected[m][n] = Σ_k sa·A(m,k) · sb·B(k,n) (+ init) with element accessors
template <class FA, class FB>
static void check(const char* name, int n, int K, FA a, FB b, float init, float sa = 1, float sb = 1) {
    int bad = 0;
    for (int m = 0; m < 64; m++) for (int j = 0; j < n; j++) {
        double s = init;
        for (int k = 0; k < K; k++) s += (double)sa * a(m, k) * sb * b(k, j);
        if (!((float)s == got[m * n + j])) { if (bad < 3) printf("  %s: (%d,%d) got %g expected %g\n", name, m, j, got[m * n + j], s); bad++; }
    }
    printf("%-58s %s\n", name, bad ? "FAIL" : "ok");
    failures += bad ? 1 : 0;
}

// 1. m64n64k16 SS, A and B K-major, 128-byte swizzle: A [64 m][64 k], B [64 n][64 k]; four k-steps
//    by advancing the start address 32 bytes (K within the 128-byte row), SBO = 1024.
static void k_ss128(void**) {
    const int t = threadIdx.x;
    const u32 ta = tileAt(0), tb = ta + 8192;
    if (t == 0) { put128(ta, A, 64); put128(tb, B, 64); }
    __syncthreads();
    float d[32];
    for (int i = 0; i < 32; i++) d[i] = 0.5f;   // accumulated onto (scale-d = 1)
    emu_wgmma_fence();
    for (int kk = 0; kk < 4; kk++) emu_wgmma(64, d, desc(ta + 32 * kk, 16, 1024, 1), nullptr, desc(tb + 32 * kk, 16, 1024, 1), true, 1, 1, 0, 0);
    emu_wgmma_commit();
    if (!std::isnan(d[0])) { printf("  accumulator readable before wait_group\n"); failures++; }
    emu_wgmma_wait(0);
    collect(t, d, 64);
}
// 2. m64n128k16 RS, A from registers, B N-major (imm-trans-b 1), 128-byte swizzle: B [64 k][128 n]
//    as two [64][64] halves LBO bytes apart (the next 64 columns of N), SBO = 1024 (the next 8 k);
//    k-step kk starts 16 rows (2048 bytes) further; scale-d 0 on the first k-step.
static u32 lboRS = 8192;
static void k_rs128(void**) {
    const int t = threadIdx.x;
    const u32 tb = tileAt(0);
    if (t == 0) {
        std::vector<u16> h0(64 * 64), h1(64 * 64);
        for (int k = 0; k < 64; k++) for (int c = 0; c < 64; c++) { h0[k * 64 + c] = B[k * 128 + c]; h1[k * 64 + c] = B[k * 128 + 64 + c]; }
        put128(tb, h0, 64); put128(tb + lboRS, h1, 64);
    }
    __syncthreads();
    float d[64];
    for (int i = 0; i < 64; i++) d[i] = 7.0f;   // scale-d = 0 on the first MMA: ignored
    emu_wgmma_fence();
    for (int kk = 0; kk < 4; kk++) {
        u32 a[4];
        afrag(t, A, 64, 16 * kk, a);
        emu_wgmma(128, d, 0, a, desc(tb + 2048 * kk, lboRS, 1024, 1), kk > 0, 1, 1, 0, 1);
    }
    emu_wgmma_commit();
    emu_wgmma_wait(0);
    collect(t, d, 128);
}
// 3. m64n32k16 SS, K-major without swizzling (Figure 163, interleaved): 8×16-byte core matrices;
//    LBO = the next core matrix in K (128), SBO = the next 8 rows (256); A imm-scale-a −1.
static void putCore(u32 tile, const std::vector<u16>& m, int rows, int ldk) {   // [rows][16] of k-step 0
    for (int r = 0; r < rows; r++) for (int k = 0; k < 16; k++) put(tile + 256u * (r / 8) + 128u * (k / 8) + 16u * (r % 8) + 2u * (k % 8), m[r * ldk + k]);
}
static void k_ss_none(void**) {
    const int t = threadIdx.x;
    const u32 ta = tileAt(0), tb = ta + 4096;
    if (t == 0) { putCore(ta, A, 64, 16); putCore(tb, B, 32, 16); }
    __syncthreads();
    float d[16];
    for (int i = 0; i < 16; i++) d[i] = 0;
    emu_wgmma_fence();
    emu_wgmma(32, d, desc(ta, 128, 256, 0), nullptr, desc(tb, 128, 256, 0), true, -1, 1, 0, 0);
    emu_wgmma_commit();
    emu_wgmma_wait(0);
    collect(t, d, 32);
}
// 4. m64n16k16 SS, A M-major (imm-trans-a 1) and B K-major, 128-byte swizzle: A stored [16 k][64 m];
//    two groups, wait_group 1 completes only the first.
static void k_ss_tnspA(void**) {
    const int t = threadIdx.x;
    const u32 ta = tileAt(0), tb = ta + 2048;
    if (t == 0) {
        std::vector<u16> at(16 * 64);
        for (int k = 0; k < 16; k++) for (int m = 0; m < 64; m++) at[k * 64 + m] = A[m * 16 + k];
        put128(ta, at, 16);
        std::vector<u16> bt(16 * 64, 0);
        for (int n = 0; n < 16; n++) for (int k = 0; k < 16; k++) bt[n * 64 + k] = B[n * 16 + k];
        put128(tb, bt, 16);
    }
    __syncthreads();
    float d[8], e[8];
    for (int i = 0; i < 8; i++) d[i] = e[i] = 0;
    emu_wgmma_fence();
    emu_wgmma(16, d, desc(ta, 8192, 1024, 1), nullptr, desc(tb, 16, 1024, 1), true, 1, 1, 1, 0);
    emu_wgmma_commit();
    emu_wgmma_fence();
    emu_wgmma(16, e, desc(ta, 8192, 1024, 1), nullptr, desc(tb, 16, 1024, 1), true, 1, 1, 1, 0);
    emu_wgmma_commit();
    emu_wgmma_wait(1);
    if (std::isnan(d[0]) || !std::isnan(e[0])) { printf("  wait_group 1 did not complete exactly the older group\n"); failures++; }
    emu_wgmma_wait(0);
    for (int i = 0; i < 8; i++) if (d[i] != e[i]) { printf("  the two groups differ\n"); failures++; break; }
    collect(t, d, 16);
}
// Negative cases: the emulator must stop.
static void k_nofence(void**) {
    const u32 ta = tileAt(0);
    float d[8] = {0};
    emu_wgmma(8, d, desc(ta, 16, 1024, 1), nullptr, desc(ta, 16, 1024, 1), true, 1, 1, 0, 0);
    emu_wgmma_commit(); emu_wgmma_wait(0);
}
static void k_overwrite(void**) {
    const u32 ta = tileAt(0);
    if (threadIdx.x == 0) for (int i = 0; i < 1024; i++) put(ta + 2 * i, bf(1.0f));
    __syncthreads();
    float d[8] = {0};
    emu_wgmma_fence();
    emu_wgmma(8, d, desc(ta, 16, 1024, 1), nullptr, desc(ta, 16, 1024, 1), true, 1, 1, 0, 0);
    emu_wgmma_commit();
    __syncthreads();
    if (threadIdx.x == 0) put(ta, bf(2.0f));   // the MMA may still read the tile
    __syncthreads();
    emu_wgmma_wait(0);
}
// cp.async of the operand tile (128 threads × 8 chunks), then wgmma: without the cp.async wait
// (nowait) or without fence.proxy.async (noproxy) the emulator must stop; with both it must not.
static void cpTile(u32 ta) {
    static u16 src[8192];
    for (int p = 0; p < 8; p++) emu_cp_async(emu_smem_ptr(ta + 16 * (threadIdx.x + 128 * p), 16), src + 8 * (threadIdx.x + 128 * p), 16);
    emu_cp_async_commit();
}
static void cpCase(bool wait, bool proxy) {
    const u32 ta = tileAt(0);
    cpTile(ta);
    if (wait) emu_cp_async_wait(0);
    if (proxy) emu_fence_proxy_async();
    __syncthreads();
    float d[8] = {0};
    emu_wgmma_fence();
    emu_wgmma(8, d, desc(ta, 16, 1024, 1), nullptr, desc(ta, 16, 1024, 1), true, 1, 1, 0, 0);
    emu_wgmma_commit(); emu_wgmma_wait(0);
}
static void k_cpok(void**) { cpCase(true, true); }
static void k_nowait(void**) { cpCase(false, true); }
static void k_noproxy(void**) { cpCase(true, false); }

extern const EmuKernel emu_kernels[] = {{"cpok", k_cpok, 0}, {"nowait", k_nowait, 0}, {"noproxy", k_noproxy, 0},{"ss128", k_ss128, 0}, {"rs128", k_rs128, 0}, {"ssnone", k_ss_none, 0}, {"tnspA", k_ss_tnspA, 0},
                                        {"nofence", k_nofence, 0}, {"overwrite", k_overwrite, 0}, {nullptr, nullptr, 0}};
static void launch(const char* name) {
    for (const EmuKernel* k = emu_kernels; k->name; k++)
        if (!strcmp(k->name, name)) { cuLaunchKernel((void*)k, 1, 1, 1, 128, 1, 1, 0, nullptr, nullptr, nullptr); return; }
}
static void fill(std::vector<u16>& v, size_t n) { v.resize(n); for (auto& x : v) x = rnd(); }

int main(int argc, char** argv) {
    which = argc > 1 ? argv[1] : "";
    if (which == "nofence" || which == "overwrite" || which == "nowait" || which == "noproxy") { launch(which.c_str()); printf("no error reported\n"); return 0; }
    launch("cpok");
    printf("%-58s ok\n", "cp.async, wait_group, fence.proxy.async, then wgmma");
    fill(A, 64 * 64); fill(B, 64 * 64); got.assign(64 * 64, NAN);
    launch("ss128");
    check("m64n64k16 A,B K-major 128B swizzle, 4 k-steps, +D", 64, 64, [](int m, int k) { return fl(A[m * 64 + k]); },
          [](int k, int n) { return fl(B[n * 64 + k]); }, 0.5f);
    for (u32 lbo : {8192u, 16384u}) {
        lboRS = lbo;
        fill(A, 64 * 64); fill(B, 64 * 128); got.assign(64 * 128, NAN);
        launch("rs128");
        std::string name = "m64n128k16 A regs, B N-major 128B swizzle, LBO " + std::to_string(lbo);
        check(name.c_str(), 128, 64, [](int m, int k) { return fl(A[m * 64 + k]); }, [](int k, int n) { return fl(B[k * 128 + n]); }, 0.0f);
    }
    fill(A, 64 * 16); fill(B, 32 * 16); got.assign(64 * 32, NAN);
    launch("ssnone");
    check("m64n32k16 A,B K-major no swizzle (LBO 128, SBO 256), -A", 32, 16, [](int m, int k) { return fl(A[m * 16 + k]); },
          [](int k, int n) { return fl(B[n * 16 + k]); }, 0.0f, -1.0f);
    fill(A, 64 * 16); fill(B, 16 * 16); got.assign(64 * 16, NAN);
    launch("tnspA");
    check("m64n16k16 A M-major (tnspA) 128B, B K-major, wait_group 1", 16, 16, [](int m, int k) { return fl(A[m * 16 + k]); },
          [](int k, int n) { return fl(B[n * 16 + k]); }, 0.0f);
    printf(failures ? "wgmma emulator self-test: %d FAILED\n" : "wgmma emulator self-test: all passed\n", failures);
    return failures ? 1 : 0;
}
