#!/usr/bin/env bash
# Sets up the environment if needed, then runs the main job on the built-in
# mini task on the CPU: trains the source-only baseline and prints the
# target-domain per-class IoU and mIoU.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
WORK_DIR=work_dirs/source_only_mini
python tools/train.py configs/source_only/mini.py --work-dir "$WORK_DIR" "$@"
python tools/test.py configs/source_only/mini.py \
    "$WORK_DIR/$(cat "$WORK_DIR/last_checkpoint" | xargs basename)" \
    --work-dir "$WORK_DIR/test"
