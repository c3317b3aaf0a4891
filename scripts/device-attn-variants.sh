#!/usr/bin/env bash
# Device side of kernel work on the tensor-core attention: times AttentionMMA.cu variants with
# `gr cuda bench-attention` in one call, each through GR_CUDA_KERNEL_DIR (no rebuild), and runs
# the tensor-core parity checks (`--check`) for the variants named in CHECK.
#
# Staging (here): scripts/device-stage.sh NAME --script scripts/device-attn-variants.sh, then one
# folder per variant under .device/NAME/ holding its AttentionMMA.cu (`base`: main's, for the
# baseline in the same call) and, optionally, .device/NAME/cache/ with the cubins that
# scripts/nvrtc-offline.py --cache wrote for them (the call then skips NVRTC). Device call:
#   VARIANTS="base v1 v2" CHECK="v2" [PROFILE="v2"] bash .device/NAME/device-attn-variants.sh
# The table rows of every variant are in $OUT/bench.log; a short summary is printed last. Every
# run has a timeout, so that a variant that hangs costs at most 90 + 60 s of the call.
# A variant from a patch (scripts/patches/attn-*.patch), here: git worktree add /tmp/v main &&
#   git -C /tmp/v apply $PWD/scripts/patches/P.patch && mkdir -p .device/NAME/vP &&
#   cp /tmp/v/Sources/GRCUDA/Kernels/AttentionMMA.cu .device/NAME/vP/
set -u
D="$(cd "$(dirname "$0")" && pwd)"
VARIANTS="${VARIANTS:?VARIANTS: the variant folders to time}"
CHECK="${CHECK:-}"
gunzip -c "$D/gr.gz" > /tmp/gr && chmod +x /tmp/gr
mkdir -p /tmp/grcache && cp "$D"/cache/*.cubin /tmp/grcache/ 2>/dev/null
export GR_CUDA_CACHE=/tmp/grcache
OUT="${OUT:-/tmp}"
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.sm,temperature.gpu,utilization.gpu --format=csv 2>&1 | tail -2
uptime
for v in $VARIANTS; do
  echo "=== $v"
  if [[ " $CHECK " == *" $v "* ]]; then
    GR_CUDA_KERNEL_DIR="$D/$v" timeout 90 /tmp/gr cuda bench-attention --check --shape 99 2>&1 | grep -v " ok$" | tail -8
  fi
  GR_CUDA_KERNEL_DIR="$D/$v" timeout 60 /tmp/gr cuda bench-attention 2>&1 | grep -E "^\| B|^\| ML|kernels|d128|rror" | sed "s/^/$v /"
done 2>&1 | tee "$OUT/bench.log"
# PROFILE="v1 ...": Nsight Compute of those variants' tensor-core kernels at shape 0 (B32 N1024),
# one forward, its dK/dV and dQ kernels (issued IPC, eligible warps, stall reasons, occupancy);
# the full reports go to $OUT/ncu-VARIANT.txt, a few lines are printed.
NCU="$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
for v in ${PROFILE:-}; do
  if [[ -z "$NCU" ]]; then echo "PROFILE: no ncu on this machine"; break; fi
  echo "=== ncu $v"
  GR_CUDA_KERNEL_DIR="$D/$v" timeout 150 "$NCU" --kernel-name regex:'gr_hstu_tc_(fwd|bwd)' --launch-count 6 \
    --section SchedulerStats --section WarpStateStats --section Occupancy --section LaunchStats \
    --metrics smsp__inst_executed.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active \
    /tmp/gr cuda bench-attention --shape 0 --reps 1 --rounds 1 > "$OUT/ncu-$v.txt" 2>&1
  grep -E "^  gr_hstu|Executed Ipc A|Eligible Warps Per|No Eligible|Registers Per|Achieved Occupancy|inst_executed.sum|hmma_cycles|Warp Cycles Per Issued" "$OUT/ncu-$v.txt" | head -60
done
echo "---- summary: variant | shape | fwd | fwd+bwd"
grep "^[a-zA-Z0-9_-]* | " "$OUT/bench.log" | awk -F'|' '{print $1, $2, $3, $5}'
