"""Turning manifest volumes into host mounts, each in a directory MACHETE owns.

Every relative volume ``./some/path`` gets a directory of its own,
``<home>/volumes/<tool>/<slug>``, that MACHETE makes (never following a link) and that no tool
can reach above: a tool writes only inside a mount, so it can plant links inside its slug
directory but never replace the slug directory or anything above it. The mount source the
engine resolves is therefore exactly the directory made here. ``/data`` (``DATA_DIR``) is the
volume ``./data``.

Before this layout (MACHETE up to 0.5), relative volumes lived at ``<home>/tools/<tool>/<path>``,
inside directories the tool could write. Their data is moved once into the new place, walking
the old path without following links; a path that passes through a link is not moved (the
tool planted it) and the volume starts empty, with a line in the operation log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from machete_core import beneath
from machete_core.domain.records import Mount
from machete_core.domain.spec import VolumeSpec
from machete_core.errors import VolumeNotAllowedError
from machete_core.settings import Settings

DATA_VOLUME = "./data"
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def volumes_root(settings: Settings, tool: str) -> Path:
    """Where a tool's volumes live: ``<home>/volumes/<tool>``."""
    return settings.home / "volumes" / tool


def legacy_root(settings: Settings, tool: str) -> Path:
    """The old layout's data directory, ``<home>/tools/<tool>`` (moved from on deploy)."""
    return settings.tools_data_dir / tool


def relative_parts(host: str) -> tuple[str, ...]:
    """``./a/b`` -> ``("a", "b")``; ``.`` -> ``()``. Refuses ``..`` and absolute paths."""
    path = PurePosixPath(host)
    if path.is_absolute():
        raise VolumeNotAllowedError(f"volume {host!r} is absolute")
    parts = tuple(p for p in path.parts if p != ".")
    if ".." in parts:
        raise VolumeNotAllowedError(f"volume {host!r}: '..' is not allowed in host paths")
    if any("\0" in p for p in parts):
        raise VolumeNotAllowedError(f"volume {host!r}: NUL is not allowed in host paths")
    return parts


def volume_slug(parts: tuple[str, ...]) -> str:
    """A directory name per relative path: ``data`` for ``./data``; anything longer or odd
    gets a readable stem and a digest, so two paths never share a directory."""
    if len(parts) == 1 and _PLAIN.match(parts[0]):
        return parts[0]
    joined = "/".join(parts)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(parts))[:40].strip("._-") or "root"
    return f"{stem}-{hashlib.sha256(joined.encode()).hexdigest()[:10]}"


def resolve_mounts(
    volumes: tuple[VolumeSpec, ...], settings: Settings, tool: str
) -> tuple[Mount, ...]:
    """Where each volume lives (no directory is made yet); absolute hosts only when an admin
    allow-listed them (``MACHETE_ALLOWED_HOST_PATHS``)."""
    mounts: list[Mount] = []
    for vol in volumes:
        host = PurePosixPath(vol.host)
        if ".." in host.parts:
            raise VolumeNotAllowedError(f"volume {vol.host!r}: '..' is not allowed in host paths")
        if ".." in PurePosixPath(vol.container).parts:
            raise VolumeNotAllowedError(f"volume {vol.container!r}: '..' is not allowed")
        if host.is_absolute():
            if not any(
                host == PurePosixPath(a) or PurePosixPath(a) in host.parents
                for a in settings.allowed_host_paths
            ):
                raise VolumeNotAllowedError(
                    f"volume {vol.host!r}: absolute host paths need an admin allow-list entry "
                    "(MACHETE_ALLOWED_HOST_PATHS)"
                )
            source = str(host)
        else:
            slug = volume_slug(relative_parts(vol.host))
            source = str(volumes_root(settings, tool) / slug)
        mounts.append(Mount(source=source, target=vol.container, read_only=vol.read_only))
    return tuple(mounts)


#: The default ``/data`` mount (``DATA_DIR``) is this volume.
DATA = VolumeSpec(DATA_VOLUME, "/data")


def prepare_mounts(
    volumes: tuple[VolumeSpec, ...],
    settings: Settings,
    tool: str,
    log: Callable[[str], None],
    owner: tuple[int, int] | None = None,
) -> None:
    """Make the directory of every relative volume (moving old-layout data in once), never
    through a link; with ``owner`` (the image's non-root user), give each to that uid:gid so
    the tool can write it. Admin-allowed absolute paths are the admin's and are left as they
    are."""
    legacy = legacy_root(settings, tool)
    for vol in volumes:
        if PurePosixPath(vol.host).is_absolute():
            continue
        parts = relative_parts(vol.host)
        slug = volume_slug(parts)
        target = ("volumes", tool, slug)
        if parts and not settings.home.joinpath(*target).exists():
            outcome = beneath.move_dir(legacy, parts, settings.home, target)
            if outcome == "moved":
                log(f"moved {vol.host} from {legacy} to {settings.home.joinpath(*target)}")
            elif outcome == "refused":
                log(
                    f"not moving {vol.host}: the old path passes through a symbolic link; "
                    "the volume starts empty"
                )
        beneath.ensure_dir(settings.home, target)
        if owner is not None:
            beneath.chown_dir(settings.home, target, *owner)
