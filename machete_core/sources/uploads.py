"""Uploaded archives, stored content-addressed under ``<home>/uploads`` for redeploys."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from machete_core.diskspace import check_free_disk
from machete_core.errors import InvalidInputError
from machete_core.settings import Settings
from machete_core.sources.archive import ArchiveTooLargeError

UPLOAD_PREFIX = "upload:"
_LOCATOR = re.compile(r"^upload:sha256:([0-9a-f]{64})$")
CHUNK = 256 * 1024


def uploads_dir(settings: Settings) -> Path:
    return settings.home / "uploads"


def store_upload(settings: Settings, stream: BinaryIO) -> str:
    """Copy ``stream`` to disk chunk by chunk (never whole in memory) and return its locator.

    Larger than ``archive_max_bytes``: refused with HTTP 413 semantics, nothing kept.
    """
    check_upload_space(settings, None)
    folder = uploads_dir(settings)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > settings.archive_max_bytes:
                    raise ArchiveTooLargeError(
                        f"the upload is larger than {settings.archive_max_bytes} bytes"
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidInputError("the upload is empty: send a tar or zip archive")
        final = folder / f"sha256-{digest.hexdigest()}"
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return f"{UPLOAD_PREFIX}sha256:{digest.hexdigest()}"


def check_upload_space(settings: Settings, expected: int | None) -> None:
    """Refuse an upload that would leave less than ``MACHETE_MIN_FREE_DISK_BYTES`` free."""
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    check_free_disk(folder, settings.min_free_disk_bytes + (expected or 0))


def sweep_uploads(settings: Settings, referenced: set[str], now: float) -> list[str]:
    """Remove stored uploads no locator in ``referenced`` names, and abandoned partial ones,
    once older than the grace period (an upload is stored a moment before its operation)."""
    folder = uploads_dir(settings)
    if not folder.is_dir():
        return []
    keep = {f"sha256-{m.group(1)}" for loc in referenced if (m := _LOCATOR.match(loc))}
    removed = []
    for path in folder.iterdir():
        if path.name in keep or path.is_symlink() or not path.is_file():
            continue
        grace = settings.upload_timeout if path.name.startswith(".incoming-") else 0
        if now - path.stat().st_mtime < settings.upload_grace_seconds + grace:
            continue
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def upload_path(settings: Settings, locator: str) -> Path:
    match = _LOCATOR.match(locator)
    if not match:
        raise InvalidInputError(f"{locator!r} is not an upload locator")
    path = uploads_dir(settings) / f"sha256-{match.group(1)}"
    if not path.is_file():
        raise InvalidInputError("that upload no longer exists: upload the archive again")
    return path
