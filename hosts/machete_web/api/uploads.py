"""Archive uploads: spooled on the event loop with idle and total timeouts and a size cap,
before any core thread is used; then one core call stores and submits them."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from machete_core.errors import ArchiveTooLargeError, UploadTimeoutError
from machete_core.sources.uploads import check_upload_space, uploads_dir
from machete_core.state.views import OperationRecord
from machete_web.api.common import actor, machete
from machete_web.keys import core

ARCHIVE_TYPES = {
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/zip",
    "application/x-xz",
    "application/x-bzip2",
    "application/octet-stream",
}


async def spool(request: web.Request, read: Callable[[], Awaitable[bytes]] | None = None) -> Path:
    """Receive the upload on the event loop into a spool file, before any core thread is
    used: a slow client holds a socket and a file, never one of the few core workers. Each read
    must arrive within ``MACHETE_UPLOAD_IDLE_TIMEOUT``, the whole within ``..._UPLOAD_TIMEOUT``,
    and the body may not pass ``MACHETE_ARCHIVE_MAX_BYTES`` or leave the disk too full.
    ``read``: where the bytes come from (default: the body; a form's file part for the
    dashboard), ``b""`` at the end."""
    read = read or request.content.readany
    settings = machete(request).settings
    expected = request.content_length
    if expected is not None and expected > settings.archive_max_bytes:
        raise ArchiveTooLargeError(f"the upload is larger than {settings.archive_max_bytes} bytes")
    check_upload_space(settings, expected)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.upload_timeout
    fd, name = tempfile.mkstemp(prefix=".incoming-spool-", dir=uploads_dir(settings))
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise UploadTimeoutError(
                        f"the upload took longer than {settings.upload_timeout:g} s"
                    )
                try:
                    chunk = await asyncio.wait_for(read(), min(settings.upload_idle_timeout, left))
                except TimeoutError:
                    raise UploadTimeoutError(
                        "the upload stalled: nothing arrived for "
                        f"{settings.upload_idle_timeout:g} s"
                    ) from None
                if not chunk:
                    break
                size += len(chunk)
                if size > settings.archive_max_bytes:
                    raise ArchiveTooLargeError(
                        f"the upload is larger than {settings.archive_max_bytes} bytes"
                    )
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def is_upload(request: web.Request) -> bool:
    # aiohttp reports application/octet-stream when no Content-Type was sent at all.
    return (
        "Content-Type" in request.headers
        and request.content_type in ARCHIVE_TYPES
        and request.body_exists
    )


async def upload(
    request: web.Request, read: Callable[[], Awaitable[bytes]] | None = None, **kwargs: Any
) -> OperationRecord:
    spooled = await spool(request, read)
    try:
        with spooled.open("rb") as fh:
            return await core(
                request, machete(request).submit_upload, fh, actor=actor(request), **kwargs
            )
    finally:
        spooled.unlink(missing_ok=True)
