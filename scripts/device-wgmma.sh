#!/usr/bin/env bash
# Device side of the wgmma forward (AttentionWGMMA.cu, session 10; checked on the host emulator in
# session 11), one call: the tensor-core parity checks and the selftest of this binary with
# GR_CUDA_ATTENTION_FWD=wgmma (the default is still mma: flip HSTUForwardKernel.fromEnvironment
# and docs/cuda.md once this passes on the GPU and the table shows wgmma faster); if
# they pass, the checks of the VARIANTS (folders holding an AttentionWGMMA.cu, through
# GR_CUDA_KERNEL_DIR) and the issue's table (`gr cuda bench-attention`) for main's binary
# (base.gz), this binary with GR_CUDA_ATTENTION_FWD=wgmma and =mma, and each variant, alternated
# ROUNDS times (rounds after the first only while less than BUDGET seconds have passed); if the
# checks fail, the checks of the DIAG folders instead (GR_WG_MODE diagnostics: which product a
# wrong layout breaks).
# Staging (here): scripts/device-stage.sh NAME --script scripts/device-wgmma.sh; cp main's staged
# gr.gz to .device/NAME/base.gz (either binary may be recompressed as NAME.xz, 2/3 the size, so
# that both fit the transfer limit with the cubin caches); optional .device/NAME/cache/*.cubin (scripts/nvrtc-offline.py
# --cache for the sources run) and the variant folders .device/NAME/VARIANT/AttentionWGMMA.cu.
#   [ROUNDS=2] [BUDGET=150] [VARIANTS="pipe"] [DIAG="m1 m2 swap"] bash .device/NAME/device-wgmma.sh
set -u
D="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp}"
unpack() { if [[ -f "$D/$1.xz" ]]; then xz -dc "$D/$1.xz"; else gunzip -c "$D/$1.gz"; fi > "/tmp/$1" && chmod +x "/tmp/$1"; }
unpack gr
unpack base
mkdir -p /tmp/grcache && cp "$D"/cache/*.cubin /tmp/grcache/ 2>/dev/null
export GR_CUDA_CACHE=/tmp/grcache
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.sm,temperature.gpu --format=csv 2>&1 | tail -1
checkv() {   # checkv LABEL [KERNEL_DIR]: the tensor-core checks; prints failures and the count
  echo "=== check $1"
  local log="$OUT/check-$1.log"
  if [[ -n "${2:-}" ]]; then GR_CUDA_ATTENTION_FWD=wgmma GR_CUDA_KERNEL_DIR="$2" timeout 100 /tmp/gr cuda bench-attention --check --shape 99 > "$log" 2>&1
  else GR_CUDA_ATTENTION_FWD=wgmma timeout 100 /tmp/gr cuda bench-attention --check --shape 99 > "$log" 2>&1; fi
  local rc=$?
  grep -E "module|forward kernel|wg_fwd|NVRTC" "$log" | head -3
  grep -v " ok$" "$log" | grep -E "FAIL|rror|passed|nan" | head -14
  return $rc
}
T0=$SECONDS
bench() {   # bench ROUND: the issue's table for base, wgmma, mma and each variant
  timeout 45 /tmp/base cuda bench-attention 2>&1 | grep -E "^\| B|rror" | sed "s/^/base$1 /"
  GR_CUDA_ATTENTION_FWD=wgmma timeout 45 /tmp/gr cuda bench-attention 2>&1 | grep -E "^\| B|rror" | sed "s/^/wgmma$1 /"
  GR_CUDA_ATTENTION_FWD=mma timeout 45 /tmp/gr cuda bench-attention 2>&1 | grep -E "^\| B|rror" | sed "s/^/mma$1 /"
  for v in ${VARIANTS:-}; do
    GR_CUDA_ATTENTION_FWD=wgmma GR_CUDA_KERNEL_DIR="$D/$v" timeout 45 /tmp/gr cuda bench-attention 2>&1 | grep -E "^\| B|rror" | sed "s/^/$v$1 /"
  done
}
{
  checkv wgmma; OK=$?
  echo "=== selftest (wgmma forward)"
  GR_CUDA_ATTENTION_FWD=wgmma timeout 60 /tmp/gr cuda selftest 2>&1 | tail -3
} 2>&1 | tee "$OUT/check.log"
bench 1 2>&1 | tee "$OUT/bench.log"
if grep -q "FAIL\|rror" "$OUT/check-wgmma.log"; then
  for v in ${DIAG:-}; do checkv "$v" "$D/$v"; done
else
  for v in ${VARIANTS:-}; do checkv "$v" "$D/$v"; done
fi 2>&1 | tee -a "$OUT/check.log"
for r in $(seq 2 "${ROUNDS:-2}"); do
  (( SECONDS - T0 < ${BUDGET:-150} )) && bench "$r"
done 2>&1 | tee -a "$OUT/bench.log"
echo "---- summary ($((SECONDS - T0)) s): run | shape | fwd | fwd TFLOP/s | fwd+bwd"
grep -E "^[a-z]+[0-9] \| B" "$OUT/bench.log" | awk -F'|' '{print $1, $2, $3, $4, $5}'
