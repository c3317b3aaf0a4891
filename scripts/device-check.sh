#!/usr/bin/env bash
# CUDA backend check on the lent GPU machine, in two halves.
#
# Here (no GPU needed):   scripts/device-check.sh [NAME]
#   scripts/device-stage.sh NAME --with-data: the static release binary, this script and configs/
#   into the ignored folder .device/NAME (default: .device/cuda; or $GR_DEVICE_DIR) of the checkout
#   the device tool sends (the main worktree: the first line of `git worktree list`, or
#   $GR_DEVICE_ROOT), ml-1m-u2999 prepared into its data/; then prints the one device `run` call
#   to make (carry: [".device/NAME"]).
# There (on the GPU):     bash .device/NAME/device-check.sh --device-side [MODE]
#   MODE check (default): gr cuda info, the op-by-op CPU-vs-GPU parity self-test (ranks included),
#   20 training steps CPU vs GPU from the same seed, one epoch (with its full evaluation) of each
#   ML-1M preset, the GPU benchmarks (`gr cuda bench`, and `gr cuda bench-attention` in MODE runs when the
#   binary has it), and a table of everything last.
#   MODE profile: the phase breakdown (GR_PROFILE=1, 3 epochs) of each preset and the per-kernel
#   table (GR_CUDA_PROFILE=1, 1 epoch) of HSTU-large.
#   MODE runs: 101 epochs of each ML-1M preset with a full evaluation every epoch (wall time
#   including start-up, metrics last/best) and the table of issue #5 item 7.
#   Logs go to $OUT when set. The kernel cache ($GR_CUDA_CACHE) is warmed by `gr cuda info` first,
#   so the timed runs load the cubin from disk as a second run on any machine would.
set -uo pipefail

if [[ "${1:-}" != "--device-side" ]]; then
    set -e
    NAME="${1:-cuda}"
    bash "$(dirname "$0")/device-stage.sh" "$NAME" --with-data --script scripts/device-check.sh
    echo
    echo "device run: command \"bash .device/$NAME/device-check.sh --device-side [check|profile|runs]\", carry [\".device/$NAME\"], timeout_s 560"
    exit 0
fi

DEV="$(dirname "$0")"
MODE="${2:-check}"
GR=/tmp/gr-cuda-check
gunzip -c "$DEV/gr.gz" > "$GR" && chmod +x "$GR"
DATA=$DEV/data/ml-1m-u2999
LOG="${OUT:-/tmp}"
export GR_CUDA_CACHE=/tmp/gr-cuda-cache
summary=()
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

step() {   # step NAME CMD...: runs, tees to $LOG/NAME.log, records status and wall time
    local name=$1; shift
    local t0=$(date +%s.%N)
    "$@" 2>&1 | tee "$LOG/$name.log"
    local rc=${PIPESTATUS[0]}
    local t1=$(date +%s.%N)
    summary+=("$(printf '| %-28s | %-4s | %8.2f s |' "$name" "$([[ $rc == 0 ]] && echo ok || echo FAIL)" "$(awk "BEGIN{print $t1 - $t0}")")")
}

step info "$GR" cuda info

if [[ "$MODE" == profile ]]; then
    for preset in hstu-large sasrec hstu; do
        rm -rf "/tmp/gr-prof/$preset"
        GR_PROFILE=1 step "profile-$preset" "$GR" train --device cuda --quiet --config "$DEV/configs/ml-1m/$preset.yaml" \
            --data "$DATA" --out "/tmp/gr-prof/$preset" --set epochs=3
    done
    rm -rf /tmp/gr-prof/kernels
    GR_CUDA_PROFILE=1 step kernels-hstu-large "$GR" train --device cuda --quiet --config "$DEV/configs/ml-1m/hstu-large.yaml" \
        --data "$DATA" --out /tmp/gr-prof/kernels --set epochs=1
    echo; echo "## profile summary ($(date -u +%Y-%m-%dT%H:%MZ))"
    printf '%s\n' "${summary[@]}"
    exit 0
fi

if [[ "$MODE" == runs ]]; then
    table=("| config | 101 epochs wall (incl. start-up) | s/epoch (train+eval) | peak GPU memory | last HR@10 / NDCG@10 | best NDCG@10 (epoch) |" "|---|---|---|---|---|---|")
    for preset in ${GR_PRESETS:-sasrec hstu hstu-large}; do
        t0=$(date +%s.%N)
        rm -rf "/tmp/gr-runs101/$preset"   # a fresh run folder (check mode uses /tmp/gr-runs)
        "$GR" train --device cuda --quiet --config "$DEV/configs/ml-1m/$preset.yaml" --data "$DATA" --out "/tmp/gr-runs101/$preset" \
            2>&1 | tee "$LOG/run-$preset.log"
        t1=$(date +%s.%N)
        wall=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
        mem=$(grep -o 'peak device memory in use [0-9]* MiB' "$LOG/run-$preset.log" | grep -o '[0-9]* MiB')
        last=$(grep -A2 '^final epoch' "$LOG/run-$preset.log" | tail -1 | awk '{print $2 " / " $3}')
        best=$(grep -A2 '^best epoch' "$LOG/run-$preset.log" | tail -1 | awk '{print $3}')
        bestE=$(grep -o '^best epoch [0-9]*' "$LOG/run-$preset.log" | awk '{print $3}')
        table+=("| ml-1m/$preset | $wall s | $(awk "BEGIN{printf \"%.3f\", $wall / 101}") | $mem | $last | $best ($bestE) |")
    done
    # A/B of the host-side switches on 20 epochs of HSTU-large (wall incl. start-up)
    ab=("| HSTU-large, 20 epochs | wall |" "|---|---|")
    # GR_AB: the variants as label:ENV=VALUE words (default: the host-side switches and bf16 attention)
    for v in ${GR_AB:-"default:" "gemm-plans-off:GR_CUDA_GEMM_PLANS=0" "sync-loss:GR_SYNC_LOSS=1" "bf16-gemm:GR_CUDA_GEMM=bf16" "bf16-attention:GR_CUDA_ATTENTION=bf16"}; do
        label=${v%%:*}; envs=${v#*:}
        t0=$(date +%s.%N)
        rm -rf "/tmp/gr-ab/$label"
        env $envs "$GR" train --device cuda --quiet --config "$DEV/configs/ml-1m/hstu-large.yaml" --data "$DATA" \
            --out "/tmp/gr-ab/$label" --set epochs=20 > "$LOG/ab-$label.log" 2>&1
        t1=$(date +%s.%N)
        ab+=("| $label | $(awk "BEGIN{printf \"%.1f s\", $t1 - $t0}") (last NDCG@10 $(grep -A2 '^final epoch' "$LOG/ab-$label.log" | tail -1 | awk '{print $3}')) |")
    done
    rm -rf /tmp/gr-ab/profile
    GR_PROFILE=1 "$GR" train --device cuda --quiet --config "$DEV/configs/ml-1m/hstu-large.yaml" --data "$DATA" \
        --out /tmp/gr-ab/profile --set epochs=3 > "$LOG/profile-hstu-large.log" 2>&1
    if "$GR" cuda bench-attention --help >/dev/null 2>&1; then "$GR" cuda bench-attention 2>&1 | tee "$LOG/bench-attention.log"; fi
    echo; echo "## 101-epoch runs on ml-1m-u2999 ($(date -u +%Y-%m-%dT%H:%MZ))"
    printf '%s\n' "${table[@]}"
    echo; printf '%s\n' "${ab[@]}"
    echo; grep -A20 '^profile (GR_PROFILE' "$LOG/profile-hstu-large.log"
    grep -h '^|' "$LOG/bench-attention.log" 2>/dev/null || true
    exit 0
fi

step selftest "$GR" cuda selftest
step train-parity-hstu-large "$GR" cuda train-parity --config $DEV/configs/ml-1m/hstu-large.yaml --data "$DATA" --steps 20
step train-parity-sasrec "$GR" cuda train-parity --config $DEV/configs/ml-1m/sasrec.yaml --data "$DATA" --steps 20
step train-parity-sasrec-graphs "$GR" cuda train-parity --config $DEV/configs/ml-1m/sasrec.yaml --data "$DATA" --steps 20 --cuda-graphs on
for preset in hstu-large sasrec hstu; do
    rm -rf "/tmp/gr-runs/$preset"
    step "epoch-$preset" "$GR" train --device cuda --quiet --config "$DEV/configs/ml-1m/$preset.yaml" --data "$DATA" \
        --out "/tmp/gr-runs/$preset" --set epochs=1
done
step bench "$GR" cuda bench

echo
echo "## device-check summary ($(date -u +%Y-%m-%dT%H:%MZ))"
grep -h "selftest:\|worst relative\|device-assembled" "$LOG"/selftest.log "$LOG"/train-parity-*.log 2>/dev/null
grep -h "^| gemm\|^| hstu" "$LOG"/bench.log 2>/dev/null
for preset in sasrec hstu hstu-large; do grep -h "epoch\|hr@10" "$LOG/epoch-$preset.log" | tail -3; done
echo "| step | status | wall |"
echo "|---|---|---|"
printf '%s\n' "${summary[@]}"
