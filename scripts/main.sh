#!/usr/bin/env bash
# Sets up the environment if needed, then runs the main job: the default
# benchmark suite (every method on the built-in mini, adverse and aerial
# tasks x 3 seeds, on the CPU), reusing finished runs, and prints the leaderboards,
# which it also writes with their plots to results/<task>/. Extra arguments go to
# tools/benchmark.py (e.g. --dry-run, --only source_only).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
exec python tools/benchmark.py "$@"
