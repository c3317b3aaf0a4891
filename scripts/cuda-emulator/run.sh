#!/usr/bin/env bash
# Runs `gr cuda selftest` (and the GRCUDA parity tests when asked) against the host emulator of
# the CUDA libraries: checks the Swift side (loading, argument marshalling, the GEMM layouts) and
# the kernels' logic without a GPU, after the emulated wgmma's own self-test (run-wgmma-test.sh).
# Usage: scripts/cuda-emulator/run.sh [path/to/gr] [selftest arguments...]; EMU_BUILD: the build
# folder (default /tmp/gr-cuda-emulator).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
build="${EMU_BUILD:-/tmp/gr-cuda-emulator}"
mkdir -p "$build"
"$here/run-wgmma-test.sh" "$build"
python3 "$here/gen.py" "$root/Sources/GRCUDA/Kernels" "$build/kernels.cpp"
clang++ -std=c++20 -O1 -fPIC -shared -I"$here" "$here/emu_driver.cpp" "$build/kernels.cpp" -o "$build/libemu.so" -lpthread
# Links, not copies: one library instance, so the driver's stream capture also records cuBLASLt's
# GEMMs (copies are separate instances with separate capture state: the GEMMs would run at capture
# time and be missing from every replay).
for n in libcuda.so.1 libnvrtc.so.13 libcublasLt.so.13; do ln -sf libemu.so "$build/$n"; done
gr="${1:-$root/.build/debug/gr}"
shift || true
GR_CUDA_LIB_DIR="$build" LD_LIBRARY_PATH="$build" GR_CUDA_CACHE="$build/cache" "$gr" cuda selftest "$@"
