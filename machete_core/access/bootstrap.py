"""The first owner. On the host: ``machete users add NAME --role owner`` (local state access is
the root of trust). For a server reached only over the network: while no owner exists,
``machete serve`` writes a one-time setup token to ``<home>/setup-token`` (mode 0600, valid for
an hour); ``POST /api/auth/setup`` with it makes the first owner, exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path

from machete_core.errors import SetupClosedError
from machete_core.private_files import write_private

VALID_S = 3600.0
FILE = "setup-token"


def token_path(home: Path) -> Path:
    return home / FILE


def write_setup_token(home: Path, now: float | None = None) -> Path:
    """A fresh token in the state directory (replacing any older one); returns its path."""
    now = time.time() if now is None else now
    text = "mch_setup_" + secrets.token_urlsafe(24)
    data = json.dumps({"token": text, "expires_at": now + VALID_S})
    return write_private(token_path(home), data)


def read_setup_token(home: Path) -> str | None:
    try:
        return str(json.loads(token_path(home).read_text())["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_setup_token(home: Path, given: str, now: float | None = None) -> str:
    """The claim marker for a valid token (one row per token, so it is used once)."""
    now = time.time() if now is None else now
    try:
        data = json.loads(token_path(home).read_text())
        expected, expires = str(data["token"]), float(data["expires_at"])
    except (OSError, ValueError, KeyError, TypeError):
        raise SetupClosedError("there is no setup token (is an owner there already?)") from None
    if now > expires:
        raise SetupClosedError("the setup token has expired; restart machete serve for a new one")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SetupClosedError("that is not the setup token")
    return "setup:" + hashlib.sha256(expected.encode()).hexdigest()[:50]


def remove_setup_token(home: Path) -> None:
    token_path(home).unlink(missing_ok=True)
