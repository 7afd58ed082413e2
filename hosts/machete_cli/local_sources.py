"""Installing from a folder on this machine: a plain folder is sent as an archive of its
current files; a Git working tree deploys what is committed (saying when uncommitted changes
are left out), or, with ``--dirty``, its files as they are."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO, cast

import click

#: Never sent: the Git database (the build context is the files, not their history).
SKIPPED = {".git"}


def archive_folder(folder: Path) -> BinaryIO:
    """The folder's files as a gzipped tar in a temporary file (removed when closed)."""
    spool = tempfile.TemporaryFile()
    with tarfile.open(fileobj=spool, mode="w:gz") as tar:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
            for name in sorted(filenames):
                path = Path(dirpath) / name
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
            for name in dirnames:
                path = Path(dirpath) / name
                if path.is_symlink():
                    tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    spool.seek(0)
    return cast(BinaryIO, spool)


def uncommitted_changes(folder: Path) -> list[str]:
    """Paths that differ from the last commit (staged, unstaged or new); [] for a clean tree."""
    from dulwich import porcelain

    status = porcelain.status(str(folder))
    paths = [p for group in status.staged.values() for p in group]
    paths += [*status.unstaged, *status.untracked]
    return sorted({_text(p) for p in paths})


def _text(path: object) -> str:
    return path.decode("utf-8", "replace") if isinstance(path, bytes) else str(path)


def folder_to_send(source: str, dirty: bool) -> BinaryIO | None:
    """The archive to upload for a local ``source`` folder, or None to install it as Git."""
    folder = Path(source)
    if not folder.is_dir():
        if dirty:
            raise click.BadParameter("--dirty is for a Git working tree", param_hint="--dirty")
        return None
    if not (folder / ".git").exists() or dirty:
        return archive_folder(folder)
    changes = uncommitted_changes(folder)
    if changes:
        shown = ", ".join(changes[:5]) + (
            f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        )
        click.secho(
            f"warning: uncommitted changes are not deployed ({shown}): commit them, or pass "
            "--dirty to deploy the files as they are",
            fg="yellow",
            err=True,
        )
    return None
