#!/usr/bin/env bash
# Runs the platform: API and dashboard on http://127.0.0.1:8080, state in $MACHETE_HOME
# (default ~/.local/share/machete), tools on the local Docker engine. Extra arguments go to
# `machete serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/machete serve "$@"
