#!/usr/bin/env bash
# Installs the docker buildx CLI plugin from Debian trixie's docker-buildx package.
# Bookworm does not package buildx; trixie's static binary runs here. We reuse the mirror URI of
# the configured Debian sources (never a hard-coded host) and use a private apt state directory so
# the machine's own apt configuration is left untouched.
set -euo pipefail
plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
if [ -x "$plugin_dir/docker-buildx" ] && "$plugin_dir/docker-buildx" version >/dev/null 2>&1; then
  exit 0
fi
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  # deb822 stanzas: the first URIs line of a stanza whose Suites are plain Debian ones.
  mirror=$(awk '/^URIs:/{u=$2} /^Suites:/{ if ($0 !~ /security/ && u ~ /debian/) { print u; exit } }' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" && $3 !~ /security/ && $2 ~ /debian/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "install-buildx: no Debian mirror found in apt sources" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc/preferences.d"
cat >"$work/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main
SRC
opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
      -o "Dir::Etc::Preferences=$work/etc/preferences" -o "Dir::Etc::PreferencesParts=$work/etc/preferences.d"
      -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -o "Acquire::Languages=none")
apt-get "${opts[@]}" -qq update
(cd "$work" && apt-get "${opts[@]}" -qq download docker-buildx)
dpkg-deb -x "$work"/docker-buildx_*.deb "$work/root"
bin=$(find "$work/root" -type f -name docker-buildx -path "*cli-plugins*" | head -n 1)
[ -n "$bin" ] || { echo "install-buildx: docker-buildx binary not found in the package" >&2; exit 1; }
mkdir -p "$plugin_dir"
install -m 0755 "$bin" "$plugin_dir/docker-buildx"
"$plugin_dir/docker-buildx" version
