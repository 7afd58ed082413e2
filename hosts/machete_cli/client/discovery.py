"""How a running ``machete serve`` tells the CLI on its machine where it is, the way
``dockerd`` has its socket: ``<home>/server.json`` (mode 0600) holds the URL and a credential
that acts as the host's own ``local`` actor. Whoever can read that file can read the state
directory (its database and secret key) anyway, so it gives nothing new; the server also
accepts the credential only from a connection of its own machine."""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from machete_core.private_files import write_private

FILE_NAME = "server.json"
#: The prefix of a local credential (never a valid API token, so never confused with one).
PREFIX = "mchl_"


class LocalServer(NamedTuple):
    url: str
    token: str
    pid: int


def server_file(home: Path) -> Path:
    return home / FILE_NAME


def new_credential() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def publish(home: Path, url: str, credential: str) -> Path:
    """Write the file for this process (replacing one a dead server left)."""
    data = json.dumps({"url": url, "token": credential, "pid": os.getpid()})
    return write_private(server_file(home), data)


def withdraw(home: Path, credential: str) -> None:
    """Remove the file if it is still this server's (another may have started since)."""
    found = _read(server_file(home))
    if found is not None and secrets.compare_digest(found.token, credential):
        server_file(home).unlink(missing_ok=True)


def find(home: Path) -> LocalServer | None:
    """The server running on ``home``, or None (no file, or its process is gone)."""
    found = _read(server_file(home))
    if found is None or not _alive(found.pid) or not _listening(found.url):
        return None
    return found


def _read(path: Path) -> LocalServer | None:
    try:
        data = json.loads(path.read_text())
        return LocalServer(str(data["url"]), str(data["token"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _listening(url: str) -> bool:
    """Something accepts connections there (a dead server's process id may have been reused;
    connecting on this machine costs well under a millisecond)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def local_url(host: str, port: int) -> str:
    """The address this machine reaches a server bound to ``host`` at."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
