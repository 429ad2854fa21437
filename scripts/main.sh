#!/usr/bin/env bash
# Sets up the environment if needed, then runs the main job on the built-in
# mini task on the CPU: trains the source-only baseline and prints the
# target-domain per-class IoU and mIoU. Extra arguments go to tools/train.py
# (e.g. --cfg-options randomness.seed=1).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
CONFIG=configs/source_only/mini.py
WORK_DIR=work_dirs/source_only_mini
python tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
python tools/test.py "$CONFIG" "$(cat "$WORK_DIR/last_checkpoint")" \
    --work-dir "$WORK_DIR/test"
