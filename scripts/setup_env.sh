#!/usr/bin/env bash
# Creates .venv and installs clst_mmseg with its dependencies and test tools.
# Idempotent: does nothing when setup.py has not changed since the last run.
# Source it (". scripts/setup_env.sh") to get the venv activated.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.clst_mmseg_installed"
want="$(cat "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip 'setuptools<82' wheel
    "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
    echo "$want" > "$STAMP"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
