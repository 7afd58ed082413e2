"""Checks before a build: a Dockerfile pre-scan and free disk space."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from machete_core.errors import InvalidInputError, MacheteError

_SYNTAX = re.compile(r"^\s*#\s*syntax\s*=\s*(\S+)", re.IGNORECASE)
_WORKDIR = re.compile(r"^\s*WORKDIR\s+(\S+)", re.IGNORECASE | re.MULTILINE)


class UnsafeDockerfileError(InvalidInputError):
    code = "unsafe_dockerfile"


class DiskFullError(MacheteError):
    code = "disk_full"
    http_status = 507


def prescan_dockerfile(path: Path, *, allow_frontends: bool) -> None:
    """Refuse what has let Dockerfiles escape builders.

    A ``# syntax=`` directive makes BuildKit download and run a frontend image of the author's
    choosing (CVE-2024-23653 class); a ``WORKDIR`` under ``/proc/self/fd`` was the runc escape
    (CVE-2024-21626).
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break  # parser directives only stand before the first instruction
        match = _SYNTAX.match(line)
        if match and not allow_frontends:
            raise UnsafeDockerfileError(
                f"the Dockerfile asks for the build frontend {match.group(1)!r} (# syntax=), "
                "which would run code of the author's choosing in the builder; remove the line "
                "or have an admin set MACHETE_ALLOW_DOCKERFILE_FRONTENDS"
            )
    for match in _WORKDIR.finditer(text):
        if "/proc/self/fd" in match.group(1) or match.group(1).startswith("/proc/"):
            raise UnsafeDockerfileError(
                f"WORKDIR {match.group(1)} is refused (container escape pattern)"
            )


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
