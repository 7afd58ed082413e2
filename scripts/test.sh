#!/usr/bin/env bash
# Runs every check CI runs: set-up, lint, type check, both install modes, and the whole test
# suite (unit tests first: they need no daemon and fail fast). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/nox -s install_check
.venv/bin/python -m pytest tests/unit -q "$@"
# The slowest integration tests are listed: they are most of the run.
.venv/bin/python -m pytest tests/integration -q --durations=25 "$@"
# The store and the lifecycle again, on PostgreSQL (a throwaway server on loopback).
MACHETE_TEST_DATABASE=postgresql .venv/bin/python -m pytest -q "$@" \
  tests/unit/test_leases.py tests/unit/test_api.py tests/unit/test_health_monitor.py \
  tests/unit/test_access_matrix.py tests/unit/test_auth_http.py tests/unit/test_people.py \
  tests/unit/test_audit.py tests/unit/test_api_for_cli.py tests/unit/test_webhooks.py \
  tests/unit/test_notifications.py tests/unit/test_metrics.py tests/unit/test_ingress.py \
  tests/integration/test_deploy.py tests/integration/test_reconcile.py \
  tests/integration/test_operations.py tests/integration/test_config.py
