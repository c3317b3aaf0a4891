#!/usr/bin/env bash
# Multi-GPU (NCCL) check on the lent 2-GPU machine (kind nvidia-h200-x2), in two halves.
#
# Here (no GPU needed):   scripts/device-nccl.sh
#   builds the static release binary, copies it (stripped, gzipped), this script and configs/
#   into the ignored folder .device/nccl of the checkout the device tool sends (the main
#   worktree: the first line of `git worktree list`, or $GR_DEVICE_ROOT), and prints the run call
#   (carry: [".device/nccl"]).
# There (2 GPUs):         bash .device/nccl/device-nccl.sh --device-side
#   1. gr bench multi-gpu: HSTU-large at ML-20M shape, phases plain (1 GPU, no NCCL), nccl-1,
#      nccl-2 (global batch split over 2 GPUs), weak-2 (batch 2·B), simulated-2 (2 ranks in
#      turn on one GPU), shared-gpu (2 NCCL ranks on GPU 0: NCCL refuses); 20 steps each with
#      the same seed and batches: loss equality vs plain and steps/s → scaling efficiency.
#   2. gr train --gpus 2 for one epoch of a small synthetic dataset, then --resume on 1 GPU for
#      a second epoch (launcher, rank-0 checkpoints, resume with another GPU count).
#   Logs go to $OUT when set; a summary is printed last.
set -uo pipefail

if [[ "${1:-}" != "--device-side" ]]; then
    set -e
    cd "$(dirname "$0")/.."
    grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> "$(git rev-parse --git-path info/exclude)"
    ROOT="${GR_DEVICE_ROOT:-$(git worktree list | head -1 | awk '{print $1}')}"
    DEV="$ROOT/.device/nccl"
    swift build -c release --static-swift-stdlib --product gr
    mkdir -p "$DEV"
    strip -o "$DEV/gr" .build/release/gr
    rm -f "$DEV/gr.gz" && gzip -6 "$DEV/gr"
    cp scripts/device-nccl.sh "$DEV/device-nccl.sh"
    rm -rf "$DEV/configs" && cp -r configs "$DEV/configs"
    du -sh "$DEV"
    echo 'device run: kind nvidia-h200-x2, command "bash .device/nccl/device-nccl.sh --device-side", carry [".device/nccl"]'
    exit 0
fi

DEV=.device/nccl
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
    timeout "$limit" "$@" 2>&1 | tee "$LOG/$name.log"
    local rc=${PIPESTATUS[0]}
    local t1=$(date +%s.%N)
    summary+=("$(printf '| %-22s | %-7s | %7.1f s |' "$name" "$([[ $rc == 0 ]] && echo ok || echo "rc $rc")" "$(awk "BEGIN{print $t1 - $t0}")")")
}

step bench-multi-gpu "${GR_BENCH_LIMIT:-150}" "$GR" bench multi-gpu --config $DEV/configs/ml-20m/hstu-large.yaml --gpus 2 \
    --warmup 2 --steps 18 --simulate --weak --try-shared-gpu --out "$LOG/phases"
"$GR" data synth --users 2000 --items 600 --events 60000 --min-length 5 --seed 3 --out /tmp/nccl-data > /dev/null
TRAIN=(--config $DEV/configs/ml-1m/hstu.yaml --data /tmp/nccl-data --out /tmp/nccl-run --quiet)
step train-2gpu 40 "$GR" train "${TRAIN[@]}" --gpus 2 --set epochs=1
step resume-1gpu 30 "$GR" train "${TRAIN[@]}" --device cuda --resume --set epochs=2
ls /tmp/nccl-run /tmp/nccl-run/rank-1 2>&1 | tr '\n' ' '; echo

echo
echo "## device-nccl summary ($(date -u +%Y-%m-%dT%H:%MZ))"
sed -n '/^## gr bench multi-gpu/,$p' "$LOG/bench-multi-gpu.log"
grep -h "Duplicate GPU\|NCCL call" "$LOG/bench-multi-gpu.log" | head -2
grep -h "epoch \|resumed\|NCCL " "$LOG/train-2gpu.log" "$LOG/resume-1gpu.log" | head -6
echo "| step | status | wall |"
echo "|---|---|---|"
printf '%s\n' "${summary[@]}"
