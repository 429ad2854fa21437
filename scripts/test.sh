#!/usr/bin/env bash
# Sets up the environment if needed, then runs the test suite (pytest) in
# two worker processes (pytest-xdist: this machine type has 2 cores; the
# tests that share one Slurm cluster stay on one worker, --dist loadgroup).
# Arguments go to pytest, e.g. `-m "not slow"`, `-n 0` for one process.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
exec python -m pytest -q -n 2 --dist loadgroup tests "$@"
