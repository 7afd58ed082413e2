"""Uploaded archives, stored content-addressed under ``<home>/uploads`` for redeploys."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

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
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
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


def upload_path(settings: Settings, locator: str) -> Path:
    match = _LOCATOR.match(locator)
    if not match:
        raise InvalidInputError(f"{locator!r} is not an upload locator")
    path = uploads_dir(settings) / f"sha256-{match.group(1)}"
    if not path.is_file():
        raise InvalidInputError("that upload no longer exists: upload the archive again")
    return path
