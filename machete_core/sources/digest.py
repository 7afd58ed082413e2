"""A digest of a tree's content: independent of file order, timestamps and ``.git``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1024 * 1024


def tree_digest(root: Path) -> str:
    """``sha256:<hex>`` over every entry's relative path, kind, executable bit and content."""
    outer = hashlib.sha256()
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        base = Path(dirpath)
        for name in dirnames + filenames:
            full = base / name
            entries.append((full.relative_to(root).as_posix(), full))
    for rel, full in sorted(entries):
        if full.is_symlink():
            outer.update(b"L\0" + rel.encode() + b"\0" + os.readlink(full).encode() + b"\0")
        elif full.is_dir():
            outer.update(b"D\0" + rel.encode() + b"\0")
        else:
            h = hashlib.sha256()
            with full.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
            mode = b"x" if os.access(full, os.X_OK) else b"-"
            outer.update(b"F\0" + rel.encode() + b"\0" + mode + h.digest())
    return "sha256:" + outer.hexdigest()
