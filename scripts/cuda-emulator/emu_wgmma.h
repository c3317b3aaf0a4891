// Host emulation of Hopper's warpgroup MMA (wgmma) and the shared-memory addressing it needs,
// written from the PTX ISA (sections cited per rule; numbers as in PTX ISA 8.x, "9.7.15 Asynchronous
// Warpgroup Level Matrix Instructions"), not from any kernel: a kernel that disagrees with these
// rules is wrong on the GPU too. Included by emu_cuda.h.
//
// Shared addresses. A kernel's u32 shared address (cvta.to.shared) is emulated as
// EMU_SMEM_BASE + (byte offset in emu_dynamic_shared); EMU_SMEM_BASE is deliberately not
// 1024-aligned (as on a GPU, where static shared variables come first), so a kernel must align its
// swizzled tiles itself. Static __shared__ variables have no emulated address (emu_smem_addr → 0).
//
// Rules implemented (PTX ISA):
//  [desc]  9.7.15.5.1.2.2 Matrix Descriptor Format: bits 13–0 start address, 29–16 leading dimension
//          byte offset (LBO), 45–32 stride dimension byte offset (SBO), each
//          matrix-descriptor-encode(x) = (x & 0x3FFFF) >> 4; bits 51–49 base offset; bits 63–62
//          swizzle mode 0 none, 1 128-byte, 2 64-byte, 3 32-byte. Base offset 0 means the
//          swizzle pattern repeats from 1024/512/256-byte boundaries (128/64/32-byte modes); a
//          non-zero base offset is not emulated (the emulator stops with a message).
//  [major] 9.7.15.5.1.2 Shared Memory Matrix Layout: imm-trans-a / imm-trans-b 0 = K-major, 1 =
//          M-major (A) / N-major (B). wgmma.mma_async: "Matrices A and B are stored in row-major
//          and column-major format respectively" (K-major both, without transpose).
//  [canon] 9.7.15.5.1.2.1.3 Canonical Layouts (CuTe notation, units of elements, T = 128 /
//          element bits = 8 for bf16; LBO/SBO are byte offsets, so a stride of T elements is 16
//          bytes):
//            K-major, none:   ((8,m),(T,2k)):((1T,SBO),(1,LBO))
//            K-major, 32B/64B/128B (x = 2/4/8): ((8,m),(T,2k)):((xT,SBO),(1,T))
//            MN-major, none:  ((T,1,m),(8,k)):((1,T,SBO),(1T,LBO))
//            MN-major, 32B/64B/128B: ((T,x,m),(8,k)):((1,T,LBO),(xT,SBO))
//          (first mode: the M/N index, second: the K index), then "Swizzle<B,4,3>" with B = 0 none,
//          1 32B, 2 64B, 3 128B, applied to the byte address (smem_ptr): address bits 4..4+B ^=
//          bits 7..7+B. 9.7.15.5.1.2.1.1/.2: for K-major swizzled layouts LBO is "not used".
//  [frag]  9.7.15.5.1.1.1 Matrix Fragments for wgmma.mma_async.m64nNk16, Figures 148 (A in
//          registers) and 149 (accumulator D): warp w of the warpgroup owns rows 16w..16w+15; lane
//          l, g = l / 4, t = l % 4:
//            D (N/2 f32 registers d_i): row 16w + g + 8·((i >> 1) & 1), column 8·(i >> 2) + 2t + (i & 1);
//            A (four .bf16x2 registers, elements a_0..a_7, a_2j low half of register j):
//              row 16w + g + 8·((e >> 1) & 1), column 2t + (e & 1) + 8·(e >> 2).
//  [op]    9.7.15.5.2 wgmma.mma_async: D = A·B + D, or D = A·B when scale-d is false; imm-scale-a/b
//          −1 negate A/B. The contents of a descriptor must be the same across the warpgroup
//          (checked). .sync.aligned: all threads of the warpgroup execute it (the emulator's
//          barriers need every thread of the block: wgmma must be in block-uniform control flow).
//  [async] 9.7.15.6/.7 wgmma.fence / commit_group / wait_group: mma_async is asynchronous;
//          "accessing the accumulator register or the input register containing fragments of
//          matrix A ... without first performing a wgmma.wait_group ... is undefined", and
//          wgmma.fence must order prior register accesses before mma_async. Emulated so that
//          mistakes show: at issue each accumulator register is set to NaN (the value to
//          accumulate onto is kept aside) and the product is written at the wait_group that
//          completes its group; shared operands are read both at issue and at completion and must
//          agree (a tile overwritten while the MMA may still read it is reported); a
//          mma_async needs a wgmma.fence since the thread's last commit_group or wait_group (a
//          stricter rule than the ISA's, which asks for it where registers were written in between,
//          as they always are between groups in practice); wait_group N completes all committed
//          groups but the N most recent; a block that ends with MMAs outstanding is reported.
//          The shared operands read at issue must have been handed to the async proxy: cp.async
//          completed (cp.async.wait_group) and fenced (fence.proxy.async) by the writing thread
//          (emu_cp_async.h).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <cmath>
#include <vector>

#define EMU_SMEM_BASE 0x230u
extern char emu_dynamic_shared[];
extern const unsigned long long emu_dynamic_shared_bytes;

[[noreturn]] inline void emu_fail(const char* what) {
    fprintf(stderr, "emulator: %s\n", what);
    abort();
}
#include "emu_cp_async.h"

// The emulated shared address of p (0 outside the dynamic shared window).
inline unsigned emu_smem_addr(const void* p) {
    const char* c = (const char*)p;
    if (c < emu_dynamic_shared || c >= emu_dynamic_shared + emu_dynamic_shared_bytes) return 0;
    return EMU_SMEM_BASE + (unsigned)(c - emu_dynamic_shared);
}
// The host byte behind an emulated shared address (stops on an address outside the window).
inline char* emu_smem_ptr(unsigned a, unsigned bytes = 1) {
    if (a < EMU_SMEM_BASE || (unsigned long long)(a - EMU_SMEM_BASE) + bytes > emu_dynamic_shared_bytes) {
        char m[96]; snprintf(m, sizeof m, "shared address 0x%x (+%u bytes) outside dynamic shared memory", a, bytes);
        emu_fail(m);
    }
    return emu_dynamic_shared + (a - EMU_SMEM_BASE);
}

// [desc] a decoded matrix descriptor.
struct EmuWgDesc { unsigned start, lbo, sbo, base, mode; };
inline EmuWgDesc emu_wg_decode(unsigned long long d) {
    return {(unsigned)(d & 0x3fffu) << 4, (unsigned)((d >> 16) & 0x3fffu) << 4, (unsigned)((d >> 32) & 0x3fffu) << 4,
            (unsigned)((d >> 49) & 7u), (unsigned)(d >> 62)};
}

// [canon] the shared byte address of element (mn, k) of a bf16 operand (T = 8) described by d.
inline unsigned emu_wg_addr(const EmuWgDesc& d, bool mnMajor, int mn, int k) {
    if (d.base != 0) emu_fail("wgmma descriptor with a non-zero base offset (not emulated)");
    const unsigned swzBits = d.mode == 1 ? 3 : d.mode == 2 ? 2 : d.mode == 3 ? 1 : 0;   // Swizzle<B,4,3>
    const unsigned x = 1u << swzBits;   // swizzle atom width in 16-byte units (1 without swizzling)
    unsigned off;
    if (!mnMajor) {   // ((8,m),(T,2k))
        const unsigned r = mn % 8, mi = mn / 8, e = k % 8, kc = k / 8;
        off = r * 16u * x + mi * d.sbo + 2u * e + (d.mode == 0 ? kc * d.lbo : kc * 16u);
    } else if (d.mode == 0) {   // ((T,1,m),(8,k)):((1,T,SBO),(1T,LBO))
        const unsigned e = mn % 8, mi = mn / 8, r = k % 8, ki = k / 8;
        off = 2u * e + mi * d.sbo + r * 16u + ki * d.lbo;
    } else {   // ((T,x,m),(8,k)):((1,T,LBO),(xT,SBO))
        const unsigned e = mn % 8, j = (mn / 8) % x, mi = mn / (8 * x), r = k % 8, ki = k / 8;
        off = 2u * e + 16u * j + mi * d.lbo + r * 16u * x + ki * d.sbo;
    }
    unsigned a = d.start + off;
    if (swzBits) a ^= ((a >> 7) & (x - 1)) << 4;
    return a;
}
inline float emu_wg_bf16(unsigned short b) { unsigned u = (unsigned)b << 16; float f; memcpy(&f, &u, 4); return f; }
// An operand element; at issue (check) the chunk must have reached the async proxy (emu_cp_async.h).
inline unsigned short emu_wg_load(unsigned a, bool check) {
    const char* p = emu_smem_ptr(a, 2);
    if (check) emu_cp_check_async_read(p);
    unsigned short v; memcpy(&v, p, 2); return v;
}

// One issued wgmma.mma_async of this thread (values of the whole warpgroup's A fragment gathered).
struct EmuWgOp {
    float* d; int n; bool scaleD; int scaleA, scaleB, tnspA, tnspB; bool aRegs;
    unsigned long long descA, descB; unsigned short a[64][16];   // A from registers
    std::vector<float> atIssue;   // this thread's products from the shared operands at issue
    int group;                    // -1 until committed
};
struct EmuWgState {
    std::vector<EmuWgOp> ops;
    std::vector<std::pair<float*, std::vector<float>>> base;   // accumulator values kept aside (NaN in the registers)
    int nextGroup = 0;
    bool fenced = false;
};
inline thread_local EmuWgState emu_wg;
// Warpgroup exchange (thread t's slot; threads of one block only).
struct EmuWgSlot { unsigned long long descA, descB; unsigned a[4]; int flags; };
inline EmuWgSlot emu_wg_slots[1024];

// The product of op for this thread's accumulator registers (N/2 values), reading shared memory now.
inline std::vector<float> emu_wg_products(const EmuWgOp& op, bool atIssue) {
    const int lane = threadIdx.x & 31, w = (threadIdx.x >> 5) & 3, g = lane >> 2, t = lane & 3;
    const EmuWgDesc da = emu_wg_decode(op.descA), db = emu_wg_decode(op.descB);
    std::vector<float> out(op.n / 2);
    for (int i = 0; i < op.n / 2; i++) {
        const int row = 16 * w + g + 8 * ((i >> 1) & 1), col = 8 * (i >> 2) + 2 * t + (i & 1);   // [frag] D
        float s = 0.0f;
        for (int k = 0; k < 16; k++) {
            const float av = emu_wg_bf16(op.aRegs ? op.a[row][k] : emu_wg_load(emu_wg_addr(da, op.tnspA, row, k), atIssue));
            const float bv = emu_wg_bf16(emu_wg_load(emu_wg_addr(db, op.tnspB, col, k), atIssue));
            s += (float)op.scaleA * av * ((float)op.scaleB * bv);
        }
        out[i] = s;
    }
    return out;
}

inline void emu_wgmma_fence() { emu_wg.fenced = true; }

// wgmma.mma_async m64nNk16 .f32.bf16.bf16: d (N/2 registers of this thread), A from shared memory
// (descA, aRegs == nullptr) or registers (aRegs: 4 × bf16x2), B from shared memory.
inline void emu_wgmma(int n, float* d, unsigned long long descA, const unsigned* aRegs, unsigned long long descB,
                      bool scaleD, int scaleA, int scaleB, int tnspA, int tnspB) {
    if (n < 8 || n > 256 || n % 8) emu_fail("wgmma: N must be a multiple of 8 in [8, 256]");
    if (!emu_wg.fenced) emu_fail("wgmma.mma_async without a wgmma.fence since this thread's last commit_group/wait_group");
    if (aRegs && tnspA) emu_fail("wgmma: imm-trans-a with A in registers");
    if (blockDim.x % 128) emu_fail("wgmma: the block is not a whole number of warpgroups");
    const unsigned t = threadIdx.x, w0 = t & ~127u;
    EmuWgSlot& s = emu_wg_slots[t];
    s.descA = aRegs ? 0 : descA; s.descB = descB;
    for (int j = 0; j < 4; j++) s.a[j] = aRegs ? aRegs[j] : 0;
    s.flags = (scaleD ? 1 : 0) | (scaleA < 0 ? 2 : 0) | (scaleB < 0 ? 4 : 0) | (tnspA ? 8 : 0) | (tnspB ? 16 : 0) | (aRegs ? 32 : 0) | (n << 8);
    __syncthreads();
    EmuWgOp op{d, n, scaleD, scaleA, scaleB, tnspA, tnspB, aRegs != nullptr, descA, descB, {}, {}, -1};
    for (unsigned u = w0; u < w0 + 128; u++) {   // [op] the same instruction and descriptors across the warpgroup
        const EmuWgSlot& o = emu_wg_slots[u];
        if (o.descA != s.descA || o.descB != s.descB || o.flags != s.flags) emu_fail("wgmma: descriptors or operands differ across the warpgroup");
        if (aRegs) {   // [frag] A: element e of thread u
            const int lane = u & 31, w = (u >> 5) & 3, g = lane >> 2, tt = lane & 3;
            for (int e = 0; e < 8; e++) {
                const int row = 16 * w + g + 8 * ((e >> 1) & 1), col = 2 * tt + (e & 1) + 8 * (e >> 2);
                op.a[row][col] = (unsigned short)(o.a[e >> 1] >> (16 * (e & 1)));
            }
        }
    }
    __syncthreads();
    op.atIssue = emu_wg_products(op, true);
    // the accumulator: the value to accumulate onto is kept aside (unless an earlier, still pending
    // MMA of this thread writes the same registers: it chains), the registers read NaN until the wait
    bool chained = false;
    for (auto& b : emu_wg.base) if (b.first == d) { chained = true; break; }
    if (!chained) {
        emu_wg.base.push_back({d, std::vector<float>(d, d + n / 2)});
        for (int i = 0; i < n / 2; i++) d[i] = NAN;
    }
    emu_wg.ops.push_back(std::move(op));
}

inline void emu_wgmma_commit() {
    for (auto& op : emu_wg.ops) if (op.group < 0) op.group = emu_wg.nextGroup;
    emu_wg.nextGroup++;
    emu_wg.fenced = false;
    __syncthreads();   // .sync.aligned
}

// wgmma.wait_group n: completes every committed group but the n most recent, in issue order.
inline void emu_wgmma_wait(int n) {
    __syncthreads();
    const int limit = emu_wg.nextGroup - n;   // groups < limit complete
    std::vector<EmuWgOp> keep;
    std::vector<std::pair<float*, std::vector<float>>> done;
    for (auto& op : emu_wg.ops) {
        if (op.group < 0 || op.group >= limit) { keep.push_back(std::move(op)); continue; }
        for (auto& k : keep) if (k.d == op.d) emu_fail("wgmma.wait_group: an accumulator chains across groups that complete separately");
        const std::vector<float> now = emu_wg_products(op, false);
        for (int i = 0; i < op.n / 2; i++)
            if (memcmp(&now[i], &op.atIssue[i], 4) != 0) emu_fail("wgmma: a shared-memory operand changed between mma_async and its wait_group");
        std::vector<float>* acc = nullptr;
        for (auto& b : emu_wg.base) if (b.first == op.d) acc = &b.second;
        if (!acc) emu_fail("wgmma: internal (no accumulator)");
        for (int i = 0; i < op.n / 2; i++) (*acc)[i] = (op.scaleD ? (*acc)[i] : 0.0f) + now[i];
    }
    // write back the accumulators with nothing left pending
    std::vector<std::pair<float*, std::vector<float>>> still;
    for (auto& b : emu_wg.base) {
        bool pending = false;
        for (auto& k : keep) if (k.d == b.first) pending = true;
        if (pending) still.push_back(std::move(b));
        else memcpy(b.first, b.second.data(), b.second.size() * 4);
    }
    emu_wg.base = std::move(still);
    emu_wg.ops = std::move(keep);
    emu_wg.fenced = false;
    __syncthreads();
}

// Called by the driver when a thread finishes a block.
inline void emu_wgmma_block_end() {
    if (!emu_wg.ops.empty()) emu_fail("a block ended with wgmma.mma_async operations not waited for");
    emu_wg = EmuWgState();
    emu_cp_block_end();
}
