#!/usr/bin/env bash
# graphs8 (session 8): CUDA graphs in `gr train` on a GPU, one call. Baseline = main's binary
# (.device/lead8/gr.gz, carried in as base.xz), same call. Staging, here:
# both binaries xz-compressed (two gzipped binaries and the data exceed the 64 MiB carry limit):
#   .device/graphs8/{gr.xz,base.xz} (base = main's .device/lead8/gr.gz), data/ from lead8, this script.
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
    echo "run $label rc $rc wall $(awk "BEGIN{printf \"%.2f\", $e - $s}") s; $(grep -A2 '^final epoch' $L/run-$label.log | tail -1 | tr -s ' ') $(grep -E '^cuda graphs' $L/run-$label.log | tr '\n' ' ')"
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
el parity
for g in on off; do timeout 60 $GR cuda train-parity --config $C/sasrec.yaml --data $DATA --steps 20 --cuda-graphs $g > $L/parity-$g.log 2>&1; echo "parity graphs=$g rc $?"; grep -E "^train-parity: (cuda|worst)|capture" $L/parity-$g.log; done
awk -F'|' 'FNR==NR { if ($0 ~ /^[|] [0-9]/) on[$2]=$4; next } /^[|] [0-9]/ { d=on[$2]-$4; if (d<0) d=-d; a=$4<0?-$4:$4; r=d/a; if (r>m) m=r; n++ }
  END { printf "graph vs eager (both cuda) worst rel loss diff %.2e over %d steps\n", m, n }' $L/parity-on.log $L/parity-off.log
el runs
run s-base $BASE sasrec; run s-off $GR sasrec --cuda-graphs off; run s-on $GR sasrec --cuda-graphs on
run s-on2 $GR sasrec --cuda-graphs on; run s-off2 $GR sasrec --cuda-graphs off; run s-base2 $BASE sasrec
run h-base $BASE hstu; run h-on $GR hstu --cuda-graphs on
run hl-base $BASE hstu-large; run hl-on $GR hstu-large --cuda-graphs on
el done; tar -C "$O" -czf "$O/logs.tgz" logs && rm -rf "$L"
