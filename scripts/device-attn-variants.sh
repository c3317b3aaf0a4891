#!/usr/bin/env bash
# Device side of kernel work on the tensor-core attention: times AttentionMMA.cu variants with
# `gr cuda bench-attention` in one call, each through GR_CUDA_KERNEL_DIR (no rebuild), and runs
# the tensor-core parity checks (`--check`) for the variants named in CHECK.
#
# Staging (here): scripts/device-stage.sh NAME --script scripts/device-attn-variants.sh, then one
# folder per variant under .device/NAME/ holding its AttentionMMA.cu (`base`: main's, for the
# baseline in the same call) and, optionally, .device/NAME/cache/ with the cubins that
# scripts/nvrtc-offline.py --cache wrote for them (the call then skips NVRTC). Device call:
#   VARIANTS="base v1 v2" CHECK="v2" bash .device/NAME/device-attn-variants.sh
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
echo "---- summary: variant | shape | fwd | fwd+bwd"
grep "^[a-zA-Z0-9_-]* | " "$OUT/bench.log" | awk -F'|' '{print $1, $2, $3, $5}'
