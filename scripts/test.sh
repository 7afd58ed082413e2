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
# The integration tests run in two processes side by side, split by file, and the PostgreSQL
# pass follows the smaller half: most of their time is waiting on the engine (builds, health
# gates, containers starting and stopping), which two cores overlap well. Every test has its
# own installation label, state directory and ports; the swarm tests stay in one process (their
# fixture joins Docker's swarm and leaves it). Each process lists its slowest tests.
it=tests/integration
beside=("$it/test_crash_safety.py" "$it/test_api_contract.py" "$it/test_scale.py"
  "$it/test_dashboard_browser.py" "$it/test_browser_isolation.py" "$it/test_backup.py"
  "$it/test_credentials.py")
# Run alone, after both: the test that makes and removes networks as fast as the engine
# allows while it probes between tools (docs/security.md, Networks); beside the others it
# would only slow their deploys down.
alone=("$it/test_network_guard.py")
rest=()
for file in "$it"/test_*.py; do
  [[ " ${beside[*]} ${alone[*]} " == *" $file "* ]] || rest+=("$file")
done
beside_log=$(mktemp)
(
  status=0
  .venv/bin/python -m pytest -q --durations=15 "${beside[@]}" "$@" || status=$?
  # The store and the lifecycle again, on PostgreSQL (a throwaway server on loopback).
  MACHETE_TEST_DATABASE=postgresql .venv/bin/python -m pytest -q "$@" \
    tests/unit/test_leases.py tests/unit/test_api.py tests/unit/test_health_monitor.py \
    tests/unit/test_access_matrix.py tests/unit/test_auth_http.py tests/unit/test_people.py \
    tests/unit/test_audit.py tests/unit/test_api_for_cli.py tests/unit/test_webhooks.py \
    tests/unit/test_notifications.py tests/unit/test_metrics.py tests/unit/test_ingress.py \
    tests/integration/test_deploy.py tests/integration/test_reconcile.py \
    tests/integration/test_operations.py tests/integration/test_config.py || status=$?
  exit "$status"
) >"$beside_log" 2>&1 &
beside_pid=$!
# Stopped (Ctrl-C, a CI timeout): the other process stops too.
trap 'pkill -TERM -P "$beside_pid" 2>/dev/null; kill "$beside_pid" 2>/dev/null' INT TERM
status=0
.venv/bin/python -m pytest -q --durations=25 "${rest[@]}" "$@" || status=$?
beside_status=0
wait "$beside_pid" || beside_status=$?
echo "=== the other integration process, then the PostgreSQL pass ==="
cat "$beside_log"
rm -f "$beside_log"
trap - INT TERM
alone_status=0
.venv/bin/python -m pytest -q "${alone[@]}" "$@" || alone_status=$?
echo "integration: exit $status; beside it and PostgreSQL: exit $beside_status;" \
  "alone: exit $alone_status"
[ "$status" -eq 0 ] && [ "$beside_status" -eq 0 ] && [ "$alone_status" -eq 0 ]
