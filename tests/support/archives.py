"""Hostile and friendly archives built in memory."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterable


def tar_bytes(
    members: Iterable[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]], mode: str = "w"
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
        for item in members:
            if isinstance(item, tuple):
                info, data = item
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(item)
    return buf.getvalue()


def file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def directory(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


def link(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


def zip_bytes(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100644 << 16
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buf.getvalue()


TOOL_TREE = {
    "Dockerfile": b"FROM machete-test/busybox:latest\nCOPY www /www\n",
    "machete.yml": b"name: archived\nmachete:\n  port: 8080\n",
    "www/index.html": b"from an archive\n",
    "www/health": b"ok\n",
}


def tool_tar(
    prefix: str = "tool-main/", mode: str = "w:gz", tree: dict[str, bytes] | None = None
) -> bytes:
    return tar_bytes(
        [file(prefix + name, data) for name, data in (tree or TOOL_TREE).items()], mode
    )
