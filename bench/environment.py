"""The environment every benchmark's ``machete`` processes share: a fresh state under ``root``,
the loopback Git server allowed, this machine's engine accepted, an installation of its own,
and no server of the developer's (``machete login``, ``MACHETE_URL``) in the way."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def bench_env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MACHETE_URL", "MACHETE_TOKEN")}
    env.update(
        {
            "MACHETE_HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "MACHETE_ALLOWED_SCHEMES": "http",
            # This machine's engine is below the runc/BuildKit floors (docs/security.md).
            "MACHETE_ACCEPT_ENGINE_BELOW_FLOOR": "true",
            "MACHETE_ALLOWED_NETWORKS": "127.0.0.0/8",
            "MACHETE_INSTALLATION": f"bench-{uuid.uuid4().hex[:6]}",
        }
    )
    env.update(extra)
    return env


def log_as_served() -> None:
    """Log as ``machete serve`` does (JSON lines from INFO: an access line per request), into
    nothing: a benchmark of the app in this process pays for its logging as a server does."""
    from machete_cli import log_format

    log_format.configure(
        stream=open(os.devnull, "w"),  # kept open for the process's life
        # MACHETE_LOG_LEVEL=WARNING measures without the access lines.
        environ={
            "MACHETE_LOG_FORMAT": "json",
            "MACHETE_LOG_LEVEL": os.environ.get("MACHETE_LOG_LEVEL", ""),
        },
    )
