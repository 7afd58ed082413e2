"""Files only their owner may read (settings that may hold a password, the setup token, the
CLI's tokens, a server's local credential), written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text``, mode 0600, through a temporary file renamed over it (a
    crash never leaves half a file, and the text is never readable by others meanwhile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(partial, path)
    return path
