#!/usr/bin/env bash
# A short device call for what session 6 built but could not run on a GPU: the HSTU layer fusions
# (`gr cuda selftest` and `train-parity` with GR_CUDA_FUSED=1, `gr bench step` and a 101-epoch
# HSTU-large run fused vs unfused) and the segment-wise GPU top-K (`gr cuda bench-retrieval` at 1M
# items). Staging, here: scripts/device-stage.sh NAME --with-data --script scripts/device-followup.sh
# Device call: `run` with carry [".device/NAME"], command "bash .device/NAME/device-followup.sh",
# timeout_s ≥ 150. Logs come back as $OUT/logs.tgz.
D="$(cd "$(dirname "$0")" && pwd)"; O="${OUT:-/tmp}"; L="$O/logs"; mkdir -p "$L"
GR=/tmp/gr-last; gunzip -c "$D/gr.gz" > $GR && chmod +x $GR
export GR_CUDA_CACHE=/tmp/gr-cuda-cache; mkdir -p $GR_CUDA_CACHE
DATA=$D/data/ml-1m-u2999; t0=$(date +%s)
el() { echo "=== $1 at $(( $(date +%s) - t0 )) s"; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
el selftest; GR_CUDA_FUSED=1 timeout 60 $GR cuda selftest > $L/selftest.log 2>&1; echo "selftest rc $?"; grep -E "FAIL|passed|fused" $L/selftest.log | grep -v " ok$" | tail -6; grep -c "fused.* ok$" $L/selftest.log
el parity; GR_CUDA_FUSED=1 timeout 40 $GR cuda train-parity --config $D/configs/ml-1m/hstu-large.yaml --data $DATA --steps 20 > $L/parity.log 2>&1; echo "parity fused rc $?: $(tail -1 $L/parity.log)"
el retrieval; timeout 40 $GR cuda bench-retrieval --items 1000000 --runs 3 > $L/bench-retrieval.log 2>&1; echo "bench-retrieval rc $?"; grep -E "^\||retries|rror|DIFF" $L/bench-retrieval.log | head -8
el step; for f in 1 0; do GR_CUDA_FUSED=$f timeout 30 $GR bench step --device cuda --steps 20 --config $D/configs/ml-1m/hstu-large.yaml 2>&1 | tee $L/step-$f.log | grep -E "^\| ml" | sed "s/^/fused=$f /"; done
el runs; for f in 1 0; do s=$(date +%s.%N); GR_CUDA_FUSED=$f timeout 35 $GR train --device cuda --quiet --config $D/configs/ml-1m/hstu-large.yaml --data $DATA --out /tmp/r$f > $L/run-$f.log 2>&1; rc=$?; e=$(date +%s.%N); echo "hstu-large fused=$f rc $rc wall $(awk "BEGIN{printf \"%.1f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$f.log | tail -1)"; done
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
