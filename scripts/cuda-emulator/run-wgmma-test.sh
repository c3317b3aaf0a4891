#!/usr/bin/env bash
# Builds and runs the emulated wgmma's self-test (wgmma_test.cpp) against a naive product, and
# checks that the emulator stops a kernel that skips wgmma.fence, overwrites a shared operand
# before wgmma.wait_group, or lets wgmma read cp.async data not waited for / not proxy-fenced. Usage: scripts/cuda-emulator/run-wgmma-test.sh [build dir]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-${EMU_BUILD:-/tmp/gr-cuda-emulator}}"
mkdir -p "$build"
clang++ -std=c++20 -O1 -I"$here" "$here/wgmma_test.cpp" "$here/emu_driver.cpp" -o "$build/wgmma_test" -lpthread
"$build/wgmma_test"
for c in nofence overwrite nowait noproxy; do
    if out=$("$build/wgmma_test" $c 2>&1); then echo "wgmma_test $c: not stopped: $out"; exit 1; fi
    echo "wgmma_test $c: stopped ($(echo "$out" | grep -m1 emulator:))"
done
