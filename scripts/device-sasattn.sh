#!/usr/bin/env bash
# One device call for SASRec's softmax attention (session 8, helper sasattn8): the TF32 mma
# kernels against the tiled f32 kernels of main (GR_CUDA_SOFTMAX_MMA=0, same binary, the code
# main runs) and kernel-file variants in folders $D/v* (GR_CUDA_KERNEL_DIR, same binary), in one
# call: selftest, GR_CUDA_PROFILE per-kernel µs (2 epochs, eager), `gr bench step`,
# `gr cuda train-parity --steps 20` and the 101-epoch `gr train` (alternated).
# Staging, here: scripts/device-stage.sh NAME --script scripts/device-sasattn.sh, data copied from
# .device/lead8, variant folders copied in by hand.
# Device call: `run` with carry [".device/NAME"], command "bash .device/NAME/device-sasattn.sh".
D="$(cd "$(dirname "$0")" && pwd)"; O="${OUT:-/tmp}"; L="$O/logs"; mkdir -p "$L"
GR=/tmp/gr-sas; gunzip -c "$D/gr.gz" > $GR && chmod +x $GR
export GR_CUDA_CACHE=/tmp/gr-cuda-cache; mkdir -p $GR_CUDA_CACHE; cp "$D"/cache/*.cubin $GR_CUDA_CACHE/ 2>/dev/null
DATA=$D/data/ml-1m-u2999; C=$D/configs/ml-1m/sasrec.yaml; t0=$(date +%s)
VARS=$(cd $D && ls -d v* 2>/dev/null)
el() { echo "=== $1 at $(( $(date +%s) - t0 )) s"; }
envof() { case $1 in 0|1) echo "GR_CUDA_SOFTMAX_MMA=$1";; *) echo "GR_CUDA_SOFTMAX_MMA=1 GR_CUDA_KERNEL_DIR=$D/$1";; esac; }
run() {  # run LABEL VARIANT: 101 epochs, wall time, last test metrics
    local s=$(date +%s.%N)
    env $(envof $2) timeout 40 $GR train --device cuda --quiet --config $C --data $DATA --out /tmp/r/$1 > $L/run-$1.log 2>&1
    local rc=$? e=$(date +%s.%N)
    echo "run $1 rc $rc wall $(awk "BEGIN{printf \"%.2f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$1.log | tail -1)"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
el selftest; for m in $VARS; do env $(envof $m) timeout 60 $GR cuda selftest --family softmax > $L/selftest-$m.log 2>&1; echo "selftest $m rc $?"; grep -E "FAIL|passed|p=0.2 \(N 300" $L/selftest-$m.log | tail -4; done
el profile
for m in 0 1 $VARS; do
    env $(envof $m) GR_CUDA_GRAPHS=off GR_CUDA_PROFILE=1 timeout 40 $GR train --device cuda --quiet --config $C --data $DATA --out /tmp/p$m --set training.epochs=2 > $L/profile-$m.log 2>&1
    echo "profile $m rc $?"; grep -E "softmax_attn|sasrec_attn" $L/profile-$m.log
done
el parity; for m in 0 $VARS; do env $(envof $m) timeout 45 $GR cuda train-parity --config $C --data $DATA --steps 20 > $L/parity-$m.log 2>&1; echo "parity $m rc $?"; tail -1 $L/parity-$m.log; done
el step; for m in 0 1 $VARS; do env $(envof $m) timeout 40 $GR bench step --device cuda --steps 20 --config $C 2>&1 | tee -a $L/step-$m.log | grep -E "^\| ml" | sed "s/^/$m /"; done
el runs; B=$(echo $VARS | awk '{print $1}'); run base1 0; run mma1 1; run $B-1 $B; run base2 0; run $B-2 $B; run mma2 1
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
