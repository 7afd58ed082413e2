"""Turning manifest volumes into host mounts inside the tool's data directory."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from machete_core.domain.records import Mount
from machete_core.domain.spec import VolumeSpec
from machete_core.errors import InvalidInputError


class VolumeNotAllowedError(InvalidInputError):
    code = "volume_not_allowed"


def resolve_mounts(
    volumes: tuple[VolumeSpec, ...], data_dir: Path, allowed_host_paths: tuple[str, ...]
) -> tuple[Mount, ...]:
    """Relative hosts live under ``data_dir`` (``<home>/tools/<name>/<path>``, the original's
    layout); absolute hosts only when an admin allow-listed them; nothing may climb out."""
    mounts: list[Mount] = []
    for vol in volumes:
        host = PurePosixPath(vol.host)
        if ".." in host.parts:
            raise VolumeNotAllowedError(f"volume {vol.host!r}: '..' is not allowed in host paths")
        if host.is_absolute():
            if not any(
                host == PurePosixPath(a) or PurePosixPath(a) in host.parents
                for a in allowed_host_paths
            ):
                raise VolumeNotAllowedError(
                    f"volume {vol.host!r}: absolute host paths need an admin allow-list entry "
                    "(MACHETE_ALLOWED_HOST_PATHS)"
                )
            source = Path(host)
        else:
            source = (
                data_dir / Path(*[p for p in host.parts if p != "."]) if host.parts else data_dir
            )
        if ".." in PurePosixPath(vol.container).parts:
            raise VolumeNotAllowedError(f"volume {vol.container!r}: '..' is not allowed")
        mounts.append(Mount(source=str(source), target=vol.container, read_only=vol.read_only))
    return tuple(mounts)
