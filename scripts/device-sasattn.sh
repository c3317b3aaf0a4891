#!/usr/bin/env bash
# One device call for SASRec's softmax attention (session 8, helper sasattn8): the TF32 mma
# kernels (default) against the tiled f32 kernels of main (GR_CUDA_SOFTMAX_MMA=0, same binary,
# the same code main runs), in one call: selftest, GR_CUDA_PROFILE per-kernel µs (2 epochs),
# `gr bench step`, `gr cuda train-parity --steps 20` and the 101-epoch `gr train` (A/B alternated).
# Staging, here: scripts/device-stage.sh NAME --with-data --script scripts/device-sasattn.sh
# (optionally a kernel variant folder VAR/ for GR_CUDA_KERNEL_DIR in the profile step).
# Device call: `run` with carry [".device/NAME"], command "bash .device/NAME/device-sasattn.sh".
D="$(cd "$(dirname "$0")" && pwd)"; O="${OUT:-/tmp}"; L="$O/logs"; mkdir -p "$L"
GR=/tmp/gr-sas; gunzip -c "$D/gr.gz" > $GR && chmod +x $GR
export GR_CUDA_CACHE=/tmp/gr-cuda-cache; mkdir -p $GR_CUDA_CACHE; cp "$D"/cache/*.cubin $GR_CUDA_CACHE/ 2>/dev/null
DATA=$D/data/ml-1m-u2999; C=$D/configs/ml-1m/sasrec.yaml; t0=$(date +%s)
el() { echo "=== $1 at $(( $(date +%s) - t0 )) s"; }
run() {  # run LABEL MMA: 101 epochs, wall time, last test metrics
    local s=$(date +%s.%N)
    GR_CUDA_SOFTMAX_MMA=$2 timeout 40 $GR train --device cuda --quiet --config $C --data $DATA --out /tmp/r/$1 > $L/run-$1.log 2>&1
    local rc=$? e=$(date +%s.%N)
    echo "run $1 mma=$2 rc $rc wall $(awk "BEGIN{printf \"%.2f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$1.log | tail -1)"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
el selftest; timeout 60 $GR cuda selftest --family softmax > $L/selftest.log 2>&1; echo "selftest rc $?"; grep -E "FAIL|passed|softmax attention (forward|backward) p=0.2" $L/selftest.log | tail -12
el profile
for m in 0 1 var; do
    if [[ $m == var ]]; then [[ -d $D/var ]] || continue; E="GR_CUDA_KERNEL_DIR=$D/var GR_CUDA_SOFTMAX_MMA=1"; else E="GR_CUDA_SOFTMAX_MMA=$m"; fi
    env $E GR_CUDA_PROFILE=1 timeout 40 $GR train --device cuda --quiet --config $C --data $DATA --out /tmp/p$m --set training.epochs=2 > $L/profile-$m.log 2>&1
    echo "profile mma=$m rc $?"; grep -E "softmax_attn|sasrec_attn" $L/profile-$m.log
done
el parity; for m in 0 1; do GR_CUDA_SOFTMAX_MMA=$m timeout 45 $GR cuda train-parity --config $C --data $DATA --steps 20 > $L/parity-$m.log 2>&1; echo "parity mma=$m rc $?"; tail -1 $L/parity-$m.log; done
el step; for m in 0 1; do GR_CUDA_SOFTMAX_MMA=$m timeout 40 $GR bench step --device cuda --steps 20 --config $C 2>&1 | tee -a $L/step-$m.log | grep -E "^\| ml" | sed "s/^/mma=$m /"; done
el runs; run base1 0; run mma1 1; run base2 0; run mma2 1
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
