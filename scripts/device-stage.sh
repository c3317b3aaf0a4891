#!/usr/bin/env bash
# Stages what a device `run` call needs (no GPU needed here), shared by scripts/device-check.sh and
# scripts/device-nccl.sh:
#
#   scripts/device-stage.sh NAME [--with-data] [--script FILE]...
#   scripts/device-stage.sh NAME --print-dir      (only prints the folder it would stage into)
#
# builds the static release binary (`--static-swift-stdlib`) and copies it stripped and gzipped,
# each --script FILE and configs/ into the ignored folder .device/NAME (or $GR_DEVICE_DIR) of the
# checkout the device tool sends: the main worktree, i.e. the first line of `git worktree list`,
# or $GR_DEVICE_ROOT. --with-data also prepares ml-1m-u2999 from the shared data folder
# ($GR_SHARED, default ../shared) into .device/NAME/data/ (once: kept while it is complete).
# Prints the staged folder's size last; the caller prints its own `run` line. The carried folder
# must stay under the device tool's 64 MiB transfer limit (the binary is ~20 MiB gzipped).
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="${1:?usage: scripts/device-stage.sh NAME [--with-data] [--script FILE]...}"
shift
WITH_DATA=0
PRINT_DIR=0
SCRIPTS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --with-data) WITH_DATA=1 ;;
        --print-dir) PRINT_DIR=1 ;;
        --script) SCRIPTS+=("${2:?--script needs a file}"); shift ;;
        *) echo "device-stage: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

ROOT="${GR_DEVICE_ROOT:-$(git worktree list | head -1 | awk '{print $1}')}"
DEV="${GR_DEVICE_DIR:-$ROOT/.device/$NAME}"
if [[ $PRINT_DIR == 1 ]]; then echo "$DEV"; exit 0; fi

SHARED="${GR_SHARED:-../shared}"
if [[ $WITH_DATA == 1 && ! -d "$SHARED/data/ml-1m-u2999" ]]; then
    echo "device-stage: no $SHARED/data/ml-1m-u2999 (set GR_SHARED to the shared folder)" >&2
    exit 1
fi
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> "$(git rev-parse --git-path info/exclude)"

swift build -c release --static-swift-stdlib --product gr
mkdir -p "$DEV"
strip -o "$DEV/gr" .build/release/gr
rm -f "$DEV/gr.gz" && gzip -6 "$DEV/gr"
for s in "${SCRIPTS[@]}"; do cp "$s" "$DEV/$(basename "$s")"; done
rm -rf "$DEV/configs" && cp -r configs "$DEV/configs"
if [[ $WITH_DATA == 1 && ! -f "$DEV/data/ml-1m-u2999/.complete" ]]; then
    rm -rf "$DEV/data/ml-1m-u2999"
    .build/release/gr data prepare --dataset ml-1m --source "$SHARED/data/ml-1m-u2999" --out "$DEV/data/ml-1m-u2999"
    touch "$DEV/data/ml-1m-u2999/.complete"
fi
du -sh "$DEV"
