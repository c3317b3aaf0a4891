#!/usr/bin/env python3
# attn9 (session 9): timing-only ablations of the bf16 HSTU forward (gr_hstu_tc_fwd_d128), as text
# substitutions of an AttentionMMA.cu, one folder per variant for GR_CUDA_KERNEL_DIR
# (scripts/device-attn-variants.sh). Every variant but qs3 gives WRONG results: timing only.
#   python3 scripts/patches/attn9-ablations.py Sources/GRCUDA/Kernels/AttentionMMA.cu OUTDIR [VARIANT]...
# nobias: no position/time bias (their shared loads and the bucket lookup go); nosilu: a = s + bias
# (no MUFU); noew: no scores at all (a = q·k); nomask: no mask on diagonal tiles; nostore: results
# not stored; sync: each tile's K/V loads waited for at once (no overlap); 1cta: 12 KB of padding
# shared memory, 1 CTA (4 warps) per SM instead of 2; qs3: Q from shared memory, 3 CTAs per SM.
import os, sys
src, outdir = sys.argv[1], sys.argv[2]
S = open(src).read()

def sub(s, old, new, count=-1):
    assert old in s, "not found: " + old[:70]
    return s.replace(old, new, count)

H = "const float h = fmaf(s[n][e], 0.5f, fmaf(pws[c - r + 64], 0.5f, twh));"
K128 = 'extern "C" __global__ void gr_hstu_tc_fwd_d128('
CALL = "    gr_hstu_tc_qblock<128, false>("
V = {
    "nobias": lambda s: sub(s, H, "const float h = GRAD ? fmaf(s[n][e], 0.5f, fmaf(pws[c - r + 64], 0.5f, twh)) : 0.5f * s[n][e];"),
    "nosilu": lambda s: sub(s, "s[n][e] = fmaf(h, t, h);", "s[n][e] = h;"),
    "noew": lambda s: sub(s, "        if (ub >= 0) gr_tc_fwd_scores<true, GRAD, true>(",
                          "        if (!GRAD) {} else if (ub >= 0) gr_tc_fwd_scores<true, GRAD, true>("),
    "nomask": lambda s: sub(s, "if (!UNI && !full) {", "if (GRAD && !UNI && !full) {", 1),
    "nostore": lambda s: sub(s, "if (i < L && d < dc) out[", "if (i < L && d < dc && (GRAD || o[n][e] == 1234.5f)) out["),
    "sync": lambda s: sub(s, "            gr_cp_async_commit();   // possibly empty\n        } else if (!QSM) {",
                          "            gr_cp_async_commit();   // possibly empty\n            if (!GRAD) gr_cp_async_wait<0>();\n        } else if (!QSM) {"),
    "1cta": lambda s: sub(s, CALL, "    __shared__ volatile char grPad[12288]; if (threadIdx.x == 9999) grPad[(int)T & 4095] = 1;\n" + CALL),
    "qs3": lambda s: sub(sub(s, CALL, "    gr_hstu_tc_qblock<128, false, true>("), K128,
                         'extern "C" __global__ __launch_bounds__(GR_TC_THREADS, 3) void gr_hstu_tc_fwd_d128('),
}
for k in (sys.argv[3:] or V):
    os.makedirs(os.path.join(outdir, k), exist_ok=True)
    with open(os.path.join(outdir, k, "AttentionMMA.cu"), "w") as f:
        f.write(V[k](S))
    print(k)
