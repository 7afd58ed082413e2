"""Where an installation's state lives by default (cheap to import: the CLI reads it to find a
running server before it loads anything else)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$MACHETE_HOME``, else ``$XDG_DATA_HOME/machete``, else ``~/.local/share/machete``."""
    env = os.environ if environ is None else environ
    if env.get("MACHETE_HOME"):
        return Path(env["MACHETE_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "machete"
