"""Opening, making and moving directories beneath a root without ever following a link.

A tool can write its own data directory, so any path that passes through it may contain a
symbolic link it planted (``ln -sfn / /data/rootlink``). Checking a path and then using it by
name races with the tool; instead every component is opened relative to its parent's file
descriptor with ``O_NOFOLLOW``, and directories are made with ``mkdir`` relative to that
descriptor, so nothing outside ``root`` is ever reached, whatever the tool does meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from machete_core.errors import UnsafePathError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _check_part(part: str) -> None:
    if part in ("", ".", "..") or "/" in part or "\0" in part:
        raise UnsafePathError(f"{part!r} is not a plain path component")


@contextlib.contextmanager
def open_dir(root: Path, parts: Sequence[str], *, create: bool = False) -> Iterator[int]:
    """A descriptor of ``root/parts...``, every component opened without following links.

    ``create`` makes missing components (mode 0755). A component that is a link or not a
    directory raises :class:`UnsafePathError`; a missing one ``FileNotFoundError``.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            _check_part(part)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                child = _open_child(fd, part, root, parts)
            except OSError as exc:
                raise _unsafe(exc, root, parts) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_child(fd: int, part: str, root: Path, parts: Sequence[str]) -> int:
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise _unsafe(exc, root, parts) from None


def _unsafe(exc: OSError, root: Path, parts: Sequence[str]) -> Exception:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return UnsafePathError(
            f"{root.joinpath(*parts)} passes through a symbolic link or a non-directory; "
            "MACHETE never follows links under a tool's directories"
        )
    return exc


def ensure_dir(root: Path, parts: Sequence[str]) -> Path:
    """Make ``root/parts...`` (links refused at every step) and return its path.

    The returned path is checked to be its own real path, so handing it to a program that
    resolves names (the Docker engine) reaches exactly the directory made here, as long as no
    component below ``root`` is writable by a tool.
    """
    with open_dir(root, parts, create=True) as fd:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise UnsafePathError(f"{root.joinpath(*parts)} is not a directory")
    path = root.joinpath(*parts)
    if os.path.realpath(path) != os.path.join(os.path.realpath(root), *parts):
        raise UnsafePathError(f"{path} does not resolve to itself")
    return path


def chown_dir(root: Path, parts: Sequence[str], uid: int, gid: int) -> None:
    """Give the directory ``root/parts...`` (reached without following links) to uid:gid."""
    with open_dir(root, parts) as fd:
        os.fchown(fd, uid, gid)


def move_dir(
    src_root: Path, src_parts: Sequence[str], dst_root: Path, dst_parts: Sequence[str]
) -> str:
    """Move the directory ``src_root/src_parts`` to ``dst_root/dst_parts`` (which must not
    exist), never following a link on either side. Returns ``"moved"``, ``"absent"`` (nothing
    there) or ``"refused"`` (a link or a non-directory on the way); the destination is left
    absent unless moved.

    The entry moved is whatever sits at the source name at the moment of the rename; it is
    checked again at the destination, which no tool can reach, and dropped if it is not a
    plain directory: a link swapped in at the last moment never becomes a mount source.
    """
    if not src_parts or not dst_parts:
        raise UnsafePathError("cannot move a root")
    try:
        with (
            open_dir(src_root, src_parts[:-1]) as src_fd,
            open_dir(dst_root, dst_parts[:-1], create=True) as dst_fd,
        ):
            _check_part(src_parts[-1])
            _check_part(dst_parts[-1])
            try:
                os.close(os.open(src_parts[-1], _DIR_FLAGS, dir_fd=src_fd))
                os.rename(src_parts[-1], dst_parts[-1], src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            except FileNotFoundError:
                return "absent"
            except OSError:
                return "refused"
            try:
                os.close(os.open(dst_parts[-1], _DIR_FLAGS, dir_fd=dst_fd))
            except OSError:
                # Not a plain directory after all (swapped meanwhile): unlink, never follow.
                os.unlink(dst_parts[-1], dir_fd=dst_fd)
                return "refused"
            return "moved"
    except FileNotFoundError:
        return "absent"
    except UnsafePathError:
        return "refused"


def walk_files(root: Path) -> Iterator[tuple[str, int, os.stat_result]]:
    """Every regular file and directory under ``root`` as (relative path, open fd or -1, stat),
    without following links. File descriptors are closed after the consumer's step."""
    if not root.is_dir() or root.is_symlink():
        return
    for dirpath, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        rel = os.path.relpath(dirpath, root)
        for name in sorted(dirnames):
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                yield os.path.normpath(os.path.join(rel, name)), -1, st
        for name in sorted(filenames):
            try:
                # O_NONBLOCK: opening a FIFO a tool left there must not hang the walk.
                fd = os.open(
                    name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd
                )
            except OSError:
                continue  # a link, a socket, or gone: data only
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    yield os.path.normpath(os.path.join(rel, name)), fd, st
            finally:
                os.close(fd)
