#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py) as it is run on a lent GPU: from the repository root, with
# src/ on PYTHONPATH, under a hard limit that keeps it below 8 minutes (GPU_CHECK_LIMIT_S, 470 s;
# rows are written under --out as they finish, so a stopped run still leaves them).
#   bench/gpu_check.sh --out gpu-check                      # on the GPU
#   GPU_CHECK_DRY=1 bench/gpu_check.sh --out /tmp/gpu-check  # dry mode, on the CPU
# GPU_CHECK_PYTHON: the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec timeout --kill-after=10 "${GPU_CHECK_LIMIT_S:-470}" "${GPU_CHECK_PYTHON:-python3}" bench/gpu_check.py "$@"
