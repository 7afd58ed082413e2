"""Installing from a folder on this machine: a plain folder is sent as an archive of its
current files; a Git working tree deploys what is committed (saying when uncommitted changes
are left out), or, with ``--dirty``, its files as they are.

In local mode a clean working tree is installed as a Git source (its history and commit are
kept); a server elsewhere cannot read this machine's folders, so in client mode the committed
files are sent as an archive, made by ``git archive`` (the ``git`` program: client mode loads
no Git library)."""

from __future__ import annotations

import os
import subprocess
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


def folder_to_send(source: str, dirty: bool, *, committed_only: bool = False) -> BinaryIO | None:
    """The archive to upload for a local ``source`` folder, or None to install it as Git.
    ``committed_only``: a Git working tree is sent as its committed files (client mode)."""
    folder = Path(source)
    if not folder.is_dir():
        if dirty:
            raise click.BadParameter("--dirty is for a Git working tree", param_hint="--dirty")
        return None
    if not (folder / ".git").exists() or dirty:
        return archive_folder(folder)
    changes = git_changes(folder) if committed_only else uncommitted_changes(folder)
    _warn_uncommitted(changes)
    return archive_commit(folder) if committed_only else None


def _warn_uncommitted(changes: list[str]) -> None:
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


def _git(folder: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, check=False, timeout=600
        )
    except FileNotFoundError:
        raise click.UsageError(
            "sending a Git working tree to a server needs the git program; or pass --dirty "
            "to send its files as they are"
        ) from None
    if done.returncode != 0:
        raise click.UsageError(
            f"git {args[0]} failed in {folder}: {done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


def git_changes(folder: Path) -> list[str]:
    """Like :func:`uncommitted_changes`, from ``git status``."""
    entries = _git(folder, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    return sorted({_text(e[3:]) for e in entries.split(b"\0") if len(e) > 3})


def archive_commit(folder: Path) -> BinaryIO:
    """The committed files of HEAD as a gzipped tar in a temporary file."""
    spool = tempfile.TemporaryFile()
    spool.write(_git(folder, "archive", "--format=tar.gz", "HEAD"))
    spool.seek(0)
    return cast(BinaryIO, spool)
