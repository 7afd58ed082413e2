"""``$XDG_CONFIG_HOME/machete/hosts.toml``: the servers this user signed in to, and which one
is current. The file holds tokens, so it is written with mode 0600 (its folder 0700), whole,
through a temporary file: a crash never leaves half of it.

::

    current = "https://machete.example.com"

    [hosts."https://machete.example.com"]
    user = "alice"
    token = "mch_cli_..."
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import NamedTuple

from machete_core.errors import InvalidInputError
from machete_core.private_files import write_private


class HostEntry(NamedTuple):
    url: str
    token: str
    user: str


class Hosts(NamedTuple):
    current: str | None
    entries: dict[str, HostEntry]

    def current_entry(self) -> HostEntry | None:
        return self.entries.get(self.current) if self.current else None


def hosts_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "machete" / "hosts.toml"


def load() -> Hosts:
    path = hosts_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return Hosts(None, {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(
            f"{path} cannot be read ({exc}): fix it, or remove it and run machete login again"
        ) from None
    entries = {}
    for url, entry in (data.get("hosts") or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            entries[url] = HostEntry(url, entry["token"], str(entry.get("user", "")))
    current = data.get("current")
    return Hosts(current if isinstance(current, str) and current in entries else None, entries)


def save(hosts: Hosts) -> Path:
    path = hosts_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A JSON string is a valid TOML basic string (the same escapes), as in machete.toml.
    _quoted = json.dumps
    lines = []
    if hosts.current:
        lines += [f"current = {_quoted(hosts.current)}", ""]
    for url, entry in sorted(hosts.entries.items()):
        lines += [
            f"[hosts.{_quoted(url)}]",
            f"user = {_quoted(entry.user)}",
            f"token = {_quoted(entry.token)}",
            "",
        ]
    return write_private(path, "\n".join(lines))


def remember(url: str, token: str, user: str) -> Path:
    """Keep the token for ``url`` and make it the current server."""
    hosts = load()
    entries = {**hosts.entries, url: HostEntry(url, token, user)}
    return save(Hosts(url, entries))


def forget(url: str) -> Path:
    hosts = load()
    entries = {k: v for k, v in hosts.entries.items() if k != url}
    current = hosts.current if hosts.current in entries else next(iter(sorted(entries)), None)
    return save(Hosts(current, entries))


def switch(url: str) -> Path:
    hosts = load()
    if url not in hosts.entries:
        raise InvalidInputError(
            f"not signed in to {url}: run machete login {url}",
            details={"known": sorted(hosts.entries)},
        )
    return save(Hosts(url, hosts.entries))
