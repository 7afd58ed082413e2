#!/usr/bin/env bash
# Runs the platform: API and dashboard on http://127.0.0.1:8080, state in $MACHETE_HOME
# (default ~/.local/share/machete), tools on the local Docker engine. Extra arguments go to
# `machete serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The first owner: there is no default password. In a terminal, make one now (the host's own
# CLI may: it holds the state); otherwise `machete serve` writes a one-time setup token to
# <home>/setup-token and logs where (docs/security.md, "The first owner").
if [ -t 0 ] && ! .venv/bin/machete --local users list --json | grep -q '"role": "owner"'; then
  echo "No owner yet: make the first one (a password of at least 12 characters)."
  read -rp "owner name: " owner
  .venv/bin/machete --local users add "$owner" --role owner
fi
exec .venv/bin/machete serve "$@"
