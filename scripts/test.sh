#!/usr/bin/env bash
# Sets up the environment if needed, then runs the test suite (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
exec python -m pytest -q tests "$@"
