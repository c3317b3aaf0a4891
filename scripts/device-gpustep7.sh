#!/usr/bin/env bash
# gpustep7 device call 3: the loss kernels of var2/ (gr_loss_scatter one warp per (p, c) pair,
# gr_ssm_fwd's dq in groups with 4 accumulators; through GR_CUDA_KERNEL_DIR) against main's
# kernels, both with GR_CUDA_SPLITK=0 (main's GEMM path), in the same call. Staged by
# scripts/device-stage.sh gpustep7 --with-data --script this, plus var2/Loss.cu. Logs in $OUT/logs.tgz.
D="$(cd "$(dirname "$0")" && pwd)"; O="${OUT:-/tmp}"; L="$O/logs"; mkdir -p "$L"
G=/tmp/gr-new; gunzip -c "$D/gr.gz" > $G && chmod +x $G
export GR_CUDA_CACHE=/tmp/gr-cuda-cache GR_CUDA_FUSED=1 GR_CUDA_SPLITK=0; mkdir -p $GR_CUDA_CACHE
DATA=$D/data/ml-1m-u2999; CF=$D/configs/ml-1m; V=$D/var2; t0=$(date +%s)
el() { echo "=== $1 at $(( $(date +%s) - t0 )) s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
el warm; timeout 60 $G cuda selftest --family elementwise > $L/warm-base.log 2>&1; echo "warm base rc $?"
el selftest; GR_CUDA_KERNEL_DIR=$V timeout 60 $G cuda selftest > $L/selftest-var2.log 2>&1; echo "selftest var2 rc $?"; grep -vE " ok$" $L/selftest-var2.log | grep -E "FAIL|passed" | head -6; grep -E "sampled softmax|bce" $L/selftest-var2.log
run() { # label kerneldir config
  s=$(date +%s.%N); GR_CUDA_KERNEL_DIR=$2 timeout 40 $G train --device cuda --quiet --config $CF/$3.yaml --data $DATA --out /tmp/run-$1-$3 > $L/run-$1-$3.log 2>&1; rc=$?; e=$(date +%s.%N)
  echo "$3 $1 rc $rc wall $(awk "BEGIN{printf \"%.2f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$1-$3.log | tail -1)"
}
el runs; run base "" sasrec; run var2 $V sasrec; run base2 "" sasrec; run var2b $V sasrec
el parity; GR_CUDA_KERNEL_DIR=$V timeout 40 $G cuda train-parity --config $CF/sasrec.yaml --data $DATA --steps 20 > $L/parity-var2.log 2>&1; echo "parity sasrec var2 rc $?: $(tail -1 $L/parity-var2.log)"
el runs2; run base "" hstu; run var2 $V hstu; run base "" hstu-large; run var2 $V hstu-large
el step; for b in base var2; do K=; [[ $b == var2 ]] && K=$V; GR_CUDA_KERNEL_DIR=$K timeout 30 $G bench step --device cuda --no-graph --steps 20 --config $CF/sasrec.yaml 2>&1 | tee $L/step-$b.log | grep -E "eager:" | sed "s/^/$b /"; done
el kprof; GR_CUDA_KERNEL_DIR=$V GR_CUDA_PROFILE=1 timeout 30 $G train --device cuda --quiet --config $CF/sasrec.yaml --data $DATA --out /tmp/kp --set epochs=2 > $L/kprof-var2.log 2>&1; grep -A14 "^| kernel" $L/kprof-var2.log
nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv,noheader
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
