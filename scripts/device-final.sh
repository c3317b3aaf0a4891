#!/usr/bin/env bash
# One lean device call that checks main on a GPU end to end (session 5): `gr cuda selftest` (with
# the CUDA-graph and step-graph rows), `gr cuda train-parity` (HSTU-large, SASRec), the three
# 101-epoch ML-1M runs (wall time, metrics), `gr cuda bench-retrieval` at 1M items (GPU top-K vs the
# CPU index), `gr serve --retrieval-device cuda` on a 1M-item synthetic model (3 requests),
# `gr bench step --device cuda`, the fusions A/B (`GR_CUDA_FUSED=1` vs 0: train-parity, HSTU-large
# run, step bench), then the attention variants base/qsmem with `--check`
# (scripts/device-attn-variants.sh). Staging, here:
#   scripts/device-stage.sh NAME --with-data --script scripts/device-final.sh --script scripts/device-attn-variants.sh
#   then .device/NAME/{base,qsmem}/AttentionMMA.cu: main's kernel and main's with
#   scripts/patches/attn-s5-qsmem.patch applied (see the header of device-attn-variants.sh); drop
#   the variants from the last step if they are not staged.
# Device call: `run` with carry [".device/NAME"], command "bash .device/NAME/device-final.sh",
# timeout_s ≤ 600. Logs come back as $OUT/logs.tgz; the table lines are printed.
D="$(cd "$(dirname "$0")" && pwd)"; O="${OUT:-/tmp}"; L="$O/logs"; mkdir -p "$L"
GR=/tmp/gr-final5; gunzip -c "$D/gr.gz" > $GR && chmod +x $GR
export GR_CUDA_CACHE=/tmp/gr-cuda-cache; mkdir -p $GR_CUDA_CACHE; cp "$D"/cache/*.cubin $GR_CUDA_CACHE/ 2>/dev/null
DATA=$D/data/ml-1m-u2999; t0=$(date +%s)
el() { echo "=== $1 at $(( $(date +%s) - t0 )) s"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
el selftest; timeout 120 $GR cuda selftest > $L/selftest.log 2>&1; echo "selftest rc $?"; grep -E "FAIL|passed|graph|step" $L/selftest.log | tail -12
el parity; for p in hstu-large sasrec; do timeout 45 $GR cuda train-parity --config $D/configs/ml-1m/$p.yaml --data $DATA --steps 20 > $L/parity-$p.log 2>&1; echo "parity $p rc $?"; tail -1 $L/parity-$p.log; done
el runs; for p in hstu-large hstu sasrec; do s=$(date +%s.%N); timeout 40 $GR train --device cuda --quiet --config $D/configs/ml-1m/$p.yaml --data $DATA --out /tmp/r/$p > $L/run-$p.log 2>&1; rc=$?; e=$(date +%s.%N); echo "run $p rc $rc wall $(awk "BEGIN{printf \"%.1f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$p.log | tail -1)"; grep -i "graph" $L/run-$p.log | head -2; done
el retrieval; timeout 150 $GR cuda bench-retrieval --items 1000000 --runs 10 > $L/bench-retrieval.log 2>&1; echo "bench-retrieval rc $?"; grep -E "^\||retries|rror|DIFF" $L/bench-retrieval.log
el serve; $GR serve --synthetic-items 1000000 --synthetic-config $D/configs/ml-1m/hstu-large.yaml --port 18555 --retrieval-device cuda > $L/serve.log 2>&1 &
P=$!
for i in $(seq 1 900); do curl -sf http://127.0.0.1:18555/healthz > /dev/null && break; sleep 0.1; done
H=$(seq -s, 1 200)
for i in 1 2 3; do curl -s -o /dev/null -w "recommend %{http_code} %{time_total}s\n" -X POST http://127.0.0.1:18555/v1/recommend -H 'Content-Type: application/json' -d "{\"history\":[$H],\"k\":10}"; done
kill $P; wait $P; grep "gr serve" $L/serve.log | head -3
el step; for c in hstu-large sasrec; do timeout 40 $GR bench step --device cuda --steps 20 --config $D/configs/ml-1m/$c.yaml 2>&1 | tee $L/step-$c.log | grep -E "^\| ml" ; done
el fused; for f in 1 0 1; do GR_CUDA_FUSED=$f timeout 45 $GR cuda train-parity --config $D/configs/ml-1m/hstu-large.yaml --data $DATA --steps 20 > $L/parity-fused$f.log 2>&1; echo "fused=$f parity rc $? $(tail -1 $L/parity-fused$f.log)"; GR_CUDA_FUSED=$f timeout 40 $GR bench step --device cuda --steps 20 --config $D/configs/ml-1m/hstu-large.yaml 2>&1 | grep -E "^\| ml"; s=$(date +%s.%N); GR_CUDA_FUSED=$f timeout 40 $GR train --device cuda --quiet --config $D/configs/ml-1m/hstu-large.yaml --data $DATA --out /tmp/rf$f > $L/run-fused$f.log 2>&1; echo "fused=$f run rc $? wall $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $s}") s; $(grep -A2 '^final epoch' $L/run-fused$f.log | tail -1)"; done
el attn; VARIANTS="base qsmem" CHECK="qsmem" OUT=$L timeout 200 bash $D/device-attn-variants.sh 2>&1 | tail -24
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
