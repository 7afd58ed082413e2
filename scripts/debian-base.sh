#!/usr/bin/env bash
# Builds the Debian base of the integration tests' fixture tools (no registry to pull from):
# a minimal bookworm root with Python, Flask and curl, made by debootstrap from Debian's
# mirror and kept as a tarball in a cache folder, so later runs (and CI on the same machine)
# reuse it. Prints the tarball's path. Safe to run again.
set -euo pipefail
cache=${MACHETE_TEST_CACHE:-/var/cache/machete-tests}
tarball="$cache/debian-bookworm-python.tar"
if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debian-base: debootstrap is not installed" >&2; exit 1; }
mirror=${MACHETE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache"
root=$(mktemp -d "$cache/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-flask,curl \
  bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
  tail -n 20 "$cache/debootstrap.log" >&2
  exit 1
}
# Nothing a container needs: package caches and logs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
tar -C "$root" -cf "$tarball.partial" .
mv "$tarball.partial" "$tarball"
echo "$tarball"
