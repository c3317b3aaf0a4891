#!/usr/bin/env bash
# Device side of the wgmma forward (AttentionWGMMA.cu, session 10): in one call, the tensor-core
# parity checks and the attention selftest of this binary (default forward: wgmma at D 128), then
# the issue's table (`gr cuda bench-attention`) for main's binary (base.gz), this binary with
# GR_CUDA_ATTENTION_FWD=wgmma and =mma, alternated ROUNDS times.
# Staging (here): scripts/device-stage.sh NAME --script scripts/device-wgmma.sh; cp main's staged
# gr.gz to .device/NAME/base.gz; optional .device/NAME/cache/*.cubin (scripts/nvrtc-offline.py
# --cache, for both binaries' sources) and .device/NAME/VARIANT/AttentionWGMMA.cu folders, checked
# through GR_CUDA_KERNEL_DIR when VARIANTS names them (e.g. the GR_WG_MODE diagnostics).
#   [ROUNDS=2] [VARIANTS="m1 m2"] bash .device/NAME/device-wgmma.sh
set -u
D="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp}"
gunzip -c "$D/gr.gz" > /tmp/gr && chmod +x /tmp/gr
gunzip -c "$D/base.gz" > /tmp/base && chmod +x /tmp/base
mkdir -p /tmp/grcache && cp "$D"/cache/*.cubin /tmp/grcache/ 2>/dev/null
export GR_CUDA_CACHE=/tmp/grcache
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.sm,temperature.gpu --format=csv 2>&1 | tail -1
{
  echo "=== check (wgmma default)"
  timeout 100 /tmp/gr cuda bench-attention --check --shape 99 2>&1 | grep -v " ok$" | tail -12
  echo "=== selftest attention"
  timeout 60 /tmp/gr cuda selftest --family attention 2>&1 | tail -4
  for v in ${VARIANTS:-}; do
    echo "=== check variant $v"
    GR_CUDA_KERNEL_DIR="$D/$v" timeout 60 /tmp/gr cuda bench-attention --check --shape 99 2>&1 | grep -E "D128|dqk128|passed|rror" | grep -v "dq \|dk \|dv \|dPos\|dTime" | tail -12
  done
} 2>&1 | tee "$OUT/check.log"
for r in $(seq 1 "${ROUNDS:-2}"); do
  timeout 45 /tmp/base cuda bench-attention 2>&1 | grep -E "^\| B|rror" | sed "s/^/base$r /"
  GR_CUDA_ATTENTION_FWD=wgmma timeout 45 /tmp/gr cuda bench-attention 2>&1 | grep -E "^\| B|forward kernel|wg_fwd|rror" | sed "s/^/wgmma$r /"
  GR_CUDA_ATTENTION_FWD=mma timeout 45 /tmp/gr cuda bench-attention 2>&1 | grep -E "^\| B|rror" | sed "s/^/mma$r /"
done 2>&1 | tee "$OUT/bench.log"
echo "---- summary: run | shape | fwd | fwd TFLOP/s | fwd+bwd"
grep -E "^[a-z]+[0-9] \| B" "$OUT/bench.log" | awk -F'|' '{print $1, $2, $3, $4, $5}'
