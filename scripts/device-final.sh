#!/usr/bin/env bash
# One lean device call that checks main on a GPU end to end (session 8): `gr cuda selftest`,
# `gr cuda train-parity` (HSTU-large, SASRec eager and with `--cuda-graphs on`), the three
# 101-epoch ML-1M runs (wall time, metrics; SASRec twice with the default graphs and once with
# `--cuda-graphs off`), `gr cuda bench-attention --check` (issue #5's kernel table),
# `gr cuda bench-retrieval` at 1M items, and `gr serve` on a 1M-item synthetic model with the
# default retrieval device (3 requests). Staging, here:
#   scripts/device-stage.sh NAME --with-data --script scripts/device-final.sh
# Device call: `run` with carry [".device/NAME"], command "bash .device/NAME/device-final.sh",
# timeout_s ≤ 600 (≈ 220 s warm). Logs come back as $OUT/logs.tgz; the table lines are printed.
D="$(cd "$(dirname "$0")" && pwd)"; O="${OUT:-/tmp}"; L="$O/logs"; mkdir -p "$L"
GR=/tmp/gr-final; gunzip -c "$D/gr.gz" > $GR && chmod +x $GR
export GR_CUDA_CACHE=/tmp/gr-cuda-cache; mkdir -p $GR_CUDA_CACHE; cp "$D"/cache/*.cubin $GR_CUDA_CACHE/ 2>/dev/null
DATA=$D/data/ml-1m-u2999; t0=$(date +%s)
el() { echo "=== $1 at $(( $(date +%s) - t0 )) s"; }
run() {  # run LABEL CONFIG [ENV=VALUE ...]: 101 epochs, wall time, last test metrics
    local label=$1 p=$2; shift 2; local s=$(date +%s.%N)
    env "$@" timeout 40 $GR train --device cuda --quiet --config $D/configs/ml-1m/$p.yaml --data $DATA --out /tmp/r/$label > $L/run-$label.log 2>&1
    local rc=$? e=$(date +%s.%N)
    echo "run $label rc $rc wall $(awk "BEGIN{printf \"%.1f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$label.log | tail -1)"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
el selftest; timeout 120 $GR cuda selftest > $L/selftest.log 2>&1; echo "selftest rc $?"; grep -E "FAIL|passed|slices|column" $L/selftest.log | tail -8
el parity; for p in hstu-large sasrec; do timeout 45 $GR cuda train-parity --config $D/configs/ml-1m/$p.yaml --data $DATA --steps 20 > $L/parity-$p.log 2>&1; echo "parity $p rc $?"; tail -1 $L/parity-$p.log; done
timeout 45 $GR cuda train-parity --config $D/configs/ml-1m/sasrec.yaml --data $DATA --steps 20 --cuda-graphs on > $L/parity-sasrec-graphs.log 2>&1; echo "parity sasrec graphs rc $?"; tail -1 $L/parity-sasrec-graphs.log
el runs; run hstu-large hstu-large; run hstu hstu; run sasrec sasrec; run sasrec-2 sasrec; run sasrec-eager sasrec GR_CUDA_GRAPHS=off
el attention; timeout 150 $GR cuda bench-attention --check > $L/bench-attention.log 2>&1; echo "bench-attention rc $?"; grep -E "checks|^\|" $L/bench-attention.log
el retrieval; timeout 60 $GR cuda bench-retrieval --items 1000000 --runs 3 > $L/bench-retrieval.log 2>&1; echo "bench-retrieval rc $?"; grep -E "^\| V 1000000 D 50 Q|retries|rror|DIFF" $L/bench-retrieval.log | head -8
el serve; $GR serve --synthetic-items 1000000 --synthetic-config $D/configs/ml-1m/hstu-large.yaml --port 18555 > $L/serve.log 2>&1 &
P=$!
for i in $(seq 1 900); do curl -sf http://127.0.0.1:18555/healthz > /dev/null && break; sleep 0.1; done
H=$(seq -s, 1 200)
for i in 1 2 3; do curl -s -o /dev/null -w "recommend %{http_code} %{time_total}s\n" -X POST http://127.0.0.1:18555/v1/recommend -H 'Content-Type: application/json' -d "{\"history\":[$H],\"k\":10}"; done
kill $P; wait $P; grep -E "retrieval" $L/serve.log | head -2
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
