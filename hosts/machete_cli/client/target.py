"""Which server a command talks to, or none (local mode), decided once per command:

1. ``--local``: this machine's state, directly.
2. ``MACHETE_URL`` (with ``MACHETE_TOKEN``, or the token ``machete login`` kept for it).
3. A state directory named by ``--home`` or ``MACHETE_HOME``: its running server, else the
   state directly.
4. The current server of ``hosts.toml`` (``machete login``; ``MACHETE_TOKEN`` wins over its
   token).
5. The server running on the default state directory (``<home>/server.json``), else that
   state directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from machete_cli.client import discovery, hosts_file
from machete_cli.client.http import normalize_url
from machete_core.errors import InvalidInputError
from machete_core.home import default_home


class Target(NamedTuple):
    #: None: local mode (the state directory itself).
    url: str | None
    token: str | None
    #: local, env, hosts or this-machine (a server running on this machine's state).
    via: str
    home: Path

    @property
    def remote(self) -> bool:
        """A server that may be on another machine (host-only commands refuse it)."""
        return self.url is not None and self.via != "this-machine"

    @property
    def login_hint(self) -> str | None:
        if self.via in ("hosts", "env") and self.url:
            return f"machete login {self.url}"
        return None


def resolve(*, local: bool, home: str | None, home_from_option: bool) -> Target:
    state = Path(home).expanduser() if home else default_home()
    if local:
        return Target(None, None, "local", state)
    token = os.environ.get("MACHETE_TOKEN") or None
    url = os.environ.get("MACHETE_URL")
    if url:
        url = normalize_url(url)
        return Target(url, token or _kept_token(url), "env", state)
    if home_from_option or os.environ.get("MACHETE_HOME"):
        return _this_machine(state, token)
    current = hosts_file.load().current_entry()
    if current is not None:
        return Target(current.url, token or current.token, "hosts", state)
    return _this_machine(state, token)


def _this_machine(state: Path, token: str | None) -> Target:
    server = discovery.find(state)
    if server is None:
        if token:
            raise InvalidInputError(
                "MACHETE_TOKEN is set, but no server is named: set MACHETE_URL too"
            )
        return Target(None, None, "local", state)
    return Target(server.url, token or server.token, "this-machine", state)


def _kept_token(url: str) -> str | None:
    entry = hosts_file.load().entries.get(url)
    return entry.token if entry else None
