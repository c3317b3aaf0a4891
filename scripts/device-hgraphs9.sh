#!/usr/bin/env bash
# hgraphs9 (session 9): HSTU training steps as CUDA graphs (capacity buckets) on a GPU, one call.
# Baseline = main's binary (.device/lead8g/gr.gz = main 563689e, carried in as base.xz), same call.
# Staging, here (both binaries xz-compressed: two gzipped binaries and the data exceed the carry
# limit): .device/hgraphs9/{gr.xz,base.xz}, data/ from lead8g, configs/, this script.
D="$(cd "$(dirname "$0")" && pwd)"; O="${OUT:-/tmp}"; L="$O/logs"; mkdir -p "$L"
unxz() { if command -v xz > /dev/null; then xz -dc "$1"; else python3 -c "import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())" "$1"; fi; }
GR=/tmp/gr-new; unxz "$D/gr.xz" > $GR && chmod +x $GR
BASE=/tmp/gr-base; unxz "$D/base.xz" > $BASE && chmod +x $BASE
export GR_CUDA_CACHE=/tmp/gr-cuda-cache; mkdir -p $GR_CUDA_CACHE
DATA=$D/data/ml-1m-u2999; C=$D/configs/ml-1m; t0=$(date +%s)
el() { echo "=== $1 at $(( $(date +%s) - t0 )) s"; }
run() {  # run LABEL BINARY CONFIG [ARGS...]: 101 epochs, wall time, last test metrics
    local label=$1 bin=$2 p=$3; shift 3; local s=$(date +%s.%N)
    timeout 40 $bin train --device cuda --quiet --config $C/$p.yaml --data $DATA --out /tmp/r/$label "$@" > $L/run-$label.log 2>&1
    local rc=$? e=$(date +%s.%N)
    echo "run $label rc $rc wall $(awk "BEGIN{printf \"%.2f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$label.log | tail -1 | tr -s ' ') $(grep -E '^cuda graphs|peak device' $L/run-$label.log | cut -c1-110 | tr '\n' ' ')"
}
parity() {  # parity on|off: 20 HSTU-large steps, CPU against the GPU
    timeout 60 $GR cuda train-parity --config $C/hstu-large.yaml --data $DATA --steps 20 --cuda-graphs $1 > $L/parity-$1.log 2>&1
    echo "parity graphs=$1 rc $?"; grep -E "^train-parity: (cuda|worst|device)|capture" $L/parity-$1.log
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
el parity; parity on
el runs
run hl-base $BASE hstu-large; run hl-on $GR hstu-large --cuda-graphs on; run hl-off $GR hstu-large --cuda-graphs off
run h-base $BASE hstu; run h-on $GR hstu --cuda-graphs on; run h-off $GR hstu --cuda-graphs off
run hl-on2 $GR hstu-large --cuda-graphs on; run h-on2 $GR hstu --cuda-graphs on
el parity-off; parity off
awk -F'|' 'FNR==NR { if ($0 ~ /^[|] [0-9]/) on[$2]=$4; next } /^[|] [0-9]/ { d=on[$2]-$4; if (d<0) d=-d; a=$4<0?-$4:$4; r=d/a; if (r>m) m=r; n++ }
  END { printf "graph vs eager (both cuda) worst rel loss diff %.2e over %d steps\n", m, n }' $L/parity-on.log $L/parity-off.log
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
