#!/usr/bin/env bash
# Where a GPU training step spends its time, eager vs CUDA graph (`gr bench step --device cuda`),
# for the three ML-1M presets and the ML-20M shape at the full, 1/4 and 1/8 batch, in one device
# call. Here: scripts/device-stage.sh NAME --script scripts/device-step-bench.sh; then a `run` with
# command "bash .device/NAME/device-step-bench.sh", carry [".device/NAME"]. Logs into $OUT, the
# table last; `gr cuda selftest` (with its CUDA graph checks) first. GR_STEP_ARGS adds options to every `gr bench step` (e.g. --no-graph).
# GR_STEP_ML20M=0 skips the ML-20M shapes; GR_SELFTEST_TIMEOUT / GR_STEP_TIMEOUT (s, default 150 / 90)
# bound the selftest and each bench (fit them to the call's timeout_s).
set -uo pipefail
DEV="$(dirname "$0")"
GR=/tmp/gr-step-bench
gunzip -c "$DEV/gr.gz" > "$GR" && chmod +x "$GR"
LOG="${OUT:-/tmp}"
export GR_CUDA_CACHE=/tmp/gr-cuda-cache
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$GR" cuda info 2>&1 | tail -2
timeout "${GR_SELFTEST_TIMEOUT:-150}" "$GR" cuda selftest > "$LOG/selftest.log" 2>&1; echo "selftest rc $?"; grep -E "graph|FAIL|passed" "$LOG/selftest.log"
bench() {   # bench NAME ARGS...
    local name=$1; shift
    timeout "${GR_STEP_TIMEOUT:-90}" "$GR" bench step --device cuda --steps 20 ${GR_STEP_ARGS:-} "$@" 2>&1 | tee "$LOG/step-$name.log"
}
for p in hstu-large hstu sasrec; do bench "ml1m-$p" --config "$DEV/configs/ml-1m/$p.yaml"; done
[[ "${GR_STEP_ML20M:-1}" == 0 ]] || for b in 128 32 16; do
    bench "ml20m-b$b" --config "$DEV/configs/ml-20m/hstu-large.yaml" --items 131262 --corpus 26744 --lengths log-uniform --batch "$b"
done
echo; echo "## step bench ($(date -u +%Y-%m-%dT%H:%MZ))"
grep -h '^| ' "$LOG"/step-*.log | awk '!(/^\| step/ && seen++)' | grep -v '^|---' | sed '1a |---|---|---|---|---|---|---|---|---|'
