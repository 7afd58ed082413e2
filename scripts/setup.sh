#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for MACHETE: Debian packages, the buildx CLI plugin,
# a virtualenv with MACHETE and its dev tools, and a check that the Docker engine answers.
# Safe to run again: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || need_apt+=(busybox-static)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# PostgreSQL's server programs, for the tests that run the store on PostgreSQL (each test run
# starts its own throwaway server on loopback; the packaged cluster is never used).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
# A registry for the Swarm runtime's tests (served on loopback by the tests themselves).
[ -x /usr/bin/docker-registry ] || need_apt+=(docker-registry)
# A real browser for the tests that open hostile tool pages (Playwright drives it through
# executable_path; Playwright's own browser download is never used).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The caddy ingress (docs/ingress.md): managed by `machete serve`, and by the tests.
command -v caddy >/dev/null 2>&1 || need_apt+=(caddy)
# The load generator of bench/swap's keep-alive rounds (nox -s bench).
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
# MACHETE's own rules that keep tools' networks apart (MACHETE_NETWORK_GUARD, docs/security.md).
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
# The integration tests' Debian base for fixture tools (scripts/debian-base.sh).
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian's caddy package starts a caddy.service on :80; MACHETE runs its own Caddy.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet caddy 2>/dev/null; then
  systemctl disable --now caddy >/dev/null 2>&1 || true
fi
# Caddy 2.6 opens new listening sockets (SO_REUSEPORT) at each change of routes and closes
# the old ones: without this, connections waiting in an old socket's queue are reset.
# Linux 5.14+ hands them to the new socket instead (docs/ingress.md, "Zero downtime").
if [ -w /proc/sys/net/ipv4/tcp_migrate_req ]; then
  sysctl -q -w net.ipv4.tcp_migrate_req=1 || true
  if [ -d /etc/sysctl.d ] && [ ! -f /etc/sysctl.d/90-machete.conf ]; then
    echo "net.ipv4.tcp_migrate_req = 1" > /etc/sysctl.d/90-machete.conf || true
  fi
fi

# buildx is used by the buildx builder; a failure here is reported but does not stop set-up,
# because `machete plugins` then shows that builder as unavailable with the reason.
if ! bash scripts/install-buildx.sh >/dev/null 2>&1; then
  sleep 2
  bash scripts/install-buildx.sh >/dev/null || echo "setup: warning: docker buildx could not be installed" >&2
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.machete-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: the Docker engine does not answer (is dockerd running?)" >&2
  exit 1
fi
echo "setup: ready (.venv, docker $(docker version --format '{{.Server.Version}}'))"
