#!/usr/bin/env bash
# Multi-GPU (NCCL) check on a lent machine of 2 or more GPUs (nvidia-h200-x2, -x4, -x8), in two halves.
#
# Here (no GPU needed):   scripts/device-nccl.sh [NAME]
#   scripts/device-stage.sh NAME (default nccl): the static release binary (stripped, gzipped),
#   this script and configs/ into the ignored folder .device/NAME of the checkout the device tool
#   sends (the main worktree: the first line of `git worktree list`, or $GR_DEVICE_ROOT), plus
#   .device/NAME/run-gpus.sh (runs the device half); prints the run call (carry: [".device/NAME"]).
# There (2+ GPUs):        [GR_GPUS="2 4"] bash .device/NAME/run-gpus.sh   (= device-nccl.sh --device-side)
#   1. gr bench multi-gpu --overlap --overlap-ab: HSTU-large at ML-20M shape, phases plain (1 GPU, no
#      NCCL), nccl-1, nccl-2 (global batch split over 2 GPUs), weak-2 (batch 2·B), each NCCL
#      phase with the all-reduce overlapped with the backward and again without (`-no-overlap`),
#      and simulated-2 (2 ranks in turn on one GPU, overlapped buckets summed by axpy); 30 timed
#      steps each with the same seed and batches: loss equality vs plain (and overlap on vs off),
#      steps/s → scaling efficiency, the overlap A/B lines.
#   2. gr train --gpus N for one epoch of a small synthetic dataset (overlap off, the default), then
#      --resume on 1 GPU for a second epoch, then --gpus N again with GR_NCCL_OVERLAP=1 (the switch).
#   Under 4 minutes in all (each step has a time limit). Logs go to $OUT when set; a summary is
#   printed last.
set -uo pipefail

if [[ "${1:-}" != "--device-side" ]]; then
    set -e
    NAME="${1:-nccl}"
    bash "$(dirname "$0")/device-stage.sh" "$NAME" --script scripts/device-nccl.sh
    DEV="$(bash "$(dirname "$0")/device-stage.sh" "$NAME" --print-dir)"
    cat > "$DEV/run-gpus.sh.tmp" <<'RUN'
#!/usr/bin/env bash
# The multi-GPU device check (2+ GPUs; GR_GPUS="2 4 8" picks the counts), staged by scripts/device-nccl.sh: logs under $OUT.
exec bash "$(dirname "$0")/device-nccl.sh" --device-side "$@"
RUN
    chmod +x "$DEV/run-gpus.sh.tmp" && mv "$DEV/run-gpus.sh.tmp" "$DEV/run-gpus.sh"
    echo "device run: kind nvidia-h200-x2 (or -x4, -x8 with GR_GPUS), command \"bash .device/$NAME/run-gpus.sh\", carry [\".device/$NAME\"], timeout_s 300"
    exit 0
fi

DEV="$(dirname "$0")"
GR=/tmp/gr-nccl
gunzip -c "$DEV/gr.gz" > "$GR" && chmod +x "$GR"
LOG="${OUT:-/tmp}"
export GR_CUDA_CACHE=/tmp/gr-cuda-cache
# NVLink multicast stays off (the launcher sets these for its children too).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi -L
nvidia-smi topo -m 2>/dev/null | head -4
if [[ -z "${GR_NCCL_LIB:-}" ]]; then
    GR_NCCL_LIB=$(ls /usr/lib/x86_64-linux-gnu/libnccl.so.2 /opt/*/.venv/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2 \
        /usr/local/lib/python3*/dist-packages/nvidia/nccl/lib/libnccl.so.2 2>/dev/null | head -1)
    [[ -n "$GR_NCCL_LIB" ]] && export GR_NCCL_LIB
fi
echo "GR_NCCL_LIB=${GR_NCCL_LIB:-<loader search>}"
summary=()
step() {   # step NAME SECONDS CMD...: runs with a time limit, tees to $LOG/NAME.log, records status and wall time
    local name=$1 limit=$2; shift 2
    local t0=$(date +%s.%N)
    timeout -k 5 "$limit" "$@" 2>&1 | tee "$LOG/$name.log"
    local rc=${PIPESTATUS[0]}
    local t1=$(date +%s.%N)
    summary+=("$(printf '| %-22s | %-7s | %7.1f s |' "$name" "$([[ $rc == 0 ]] && echo ok || echo "rc $rc")" "$(awk "BEGIN{print $t1 - $t0}")")")
}

# GR_GPUS: the GPU counts to bench (default 2; "2 4" on a 4-GPU machine); training uses the last.
GPU_COUNTS=(${GR_GPUS:-2})
GPUS=${GPU_COUNTS[-1]}
for n in "${GPU_COUNTS[@]}"; do
    step "bench-multi-gpu-$n" "${GR_BENCH_LIMIT:-140}" "$GR" bench multi-gpu --config "$DEV/configs/ml-20m/hstu-large.yaml" --gpus "$n" \
        --warmup 3 --steps 30 --overlap --overlap-ab --simulate --weak --out "$LOG/phases-$n"
done
"$GR" data synth --users 2000 --items 600 --events 60000 --min-length 5 --seed 3 --out /tmp/nccl-data > /dev/null
TRAIN=(--config "$DEV/configs/ml-1m/hstu.yaml" --data /tmp/nccl-data --quiet)
rm -rf /tmp/nccl-run /tmp/nccl-run-overlap
step train-${GPUS}gpu 35 "$GR" train "${TRAIN[@]}" --out /tmp/nccl-run --gpus "$GPUS" --set epochs=1
step resume-1gpu 25 "$GR" train "${TRAIN[@]}" --out /tmp/nccl-run --device cuda --resume --set epochs=2
step train-${GPUS}gpu-overlap 35 env GR_NCCL_OVERLAP=1 "$GR" train "${TRAIN[@]}" --out /tmp/nccl-run-overlap --gpus "$GPUS" --set epochs=1
ls /tmp/nccl-run /tmp/nccl-run/rank-1 2>&1 | tr '\n' ' '; echo

echo
echo "## device-nccl summary ($(date -u +%Y-%m-%dT%H:%MZ))"
for n in "${GPU_COUNTS[@]}"; do
    sed -n '/^## gr bench multi-gpu/,$p' "$LOG/bench-multi-gpu-$n.log"
    grep -h "NCCL call\|buckets\|overlapped with\|after the backward" "$LOG/bench-multi-gpu-$n.log" | head -8
done
grep -h "epoch \|resumed\|NCCL " "$LOG/train-${GPUS}gpu.log" "$LOG/resume-1gpu.log" "$LOG/train-${GPUS}gpu-overlap.log" | head -9
echo "| step | status | wall |"
echo "|---|---|---|"
printf '%s\n' "${summary[@]}"
