"""Free disk space, checked before work that fills the disk (builds, uploads)."""

from __future__ import annotations

import shutil
from pathlib import Path

from machete_core.errors import DiskFullError
from machete_core.settings import Settings


def check_free_disk(path: Path, minimum: int) -> None:
    """Refuse to start a build when the disk holding ``path`` has less than ``minimum`` free."""
    if minimum <= 0 or not path.exists():
        return
    free = shutil.disk_usage(path).free
    if free < minimum:
        raise DiskFullError(
            f"only {free // 1024**2} MiB free on the disk of {path}; a build needs at least "
            f"{minimum // 1024**2} MiB (MACHETE_MIN_FREE_DISK_BYTES). Remove unused tools or "
            "images first."
        )


def engine_data_root(settings: Settings) -> Path:
    """Where the engine keeps images, when it is on this machine; else the state folder."""
    root = Path("/var/lib/docker")
    return root if root.exists() else settings.home
