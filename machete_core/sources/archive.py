"""Safe extraction of tool archives (tar, tar.gz, tar.bz2, tar.xz, zip).

Every member is checked before anything is written for it, limits are enforced on the bytes
actually read (never on what headers claim), nothing is ever written through a link, and the
destination, a fresh directory, is deleted on any failure. This does not rely on ``tarfile``'s
extraction filters, which have been bypassed repeatedly.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

import attrs

from machete_core.errors import (
    AbsolutePathError,
    ArchiveTooLargeError,
    BadNameError,
    CorruptArchiveError,
    DuplicateMemberError,
    HardlinkError,
    LinkEscapeError,
    LinkTraversalError,
    MacheteError,
    MemberTooLargeError,
    PathTraversalError,
    SpecialFileError,
    TooManyMembersError,
    UnsafeArchiveError,
)
from machete_core.sources.decompress import BoundedDecompressor, kind_of

CHUNK = 64 * 1024
__all__ = [
    "AbsolutePathError",
    "ArchiveLimits",
    "ArchiveTooLargeError",
    "BadNameError",
    "CorruptArchiveError",
    "DuplicateMemberError",
    "ExtractResult",
    "HardlinkError",
    "LinkEscapeError",
    "LinkTraversalError",
    "MemberTooLargeError",
    "PathTraversalError",
    "SpecialFileError",
    "TooManyMembersError",
    "UnsafeArchiveError",
    "extract_archive",
    "member_path",
]
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"


@attrs.frozen
class ArchiveLimits:
    max_total_bytes: int = 1024**3
    max_member_bytes: int = 512 * 1024**2
    max_members: int = 20_000
    #: Output bytes per compressed byte past 64 MiB that make an archive a bomb (None: no
    #: ratio check, for the admin's own backups, which may hold large runs of zeros).
    max_ratio: int | None = 1000


@attrs.frozen
class ExtractResult:
    files: int
    bytes: int
    stripped: str | None


def member_path(name: str) -> PurePosixPath | None:
    """The checked relative path of a member, or None for the root itself (``./``).

    Refuses NUL and backslashes, absolute names, and any ``..`` component.
    """
    if "\0" in name or "\\" in name:
        raise BadNameError(f"member name {name!r} contains NUL or a backslash", name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise AbsolutePathError(f"member {name!r} has an absolute path", name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathTraversalError(f"member {name!r} climbs out of the tree with '..'", name)
    if not parts:
        if name.strip("/.") == "" and name != "":
            return None
        raise BadNameError(f"member name {name!r} is empty", name)
    return PurePosixPath(*parts)


class _Extractor:
    """Writes checked members under ``root``; shared by the tar and zip readers."""

    def __init__(self, root: Path, limits: ArchiveLimits) -> None:
        self.root = root
        self.limits = limits
        self.members = 0
        self.total = 0
        self.files = 0
        self.seen: set[PurePosixPath] = set()
        self.links: set[PurePosixPath] = set()
        self.dirs: set[PurePosixPath] = set()

    def count(self, name: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise TooManyMembersError(
                f"the archive has more than {self.limits.max_members} members", name
            )

    def _claim(self, rel: PurePosixPath, name: str) -> Path | None:
        if ".git" in rel.parts:
            return None  # repository metadata never reaches a build context
        if rel in self.seen and rel not in self.dirs:
            raise DuplicateMemberError(f"member {name!r} appears twice", name)
        for parent in list(rel.parents)[:-1]:
            if parent in self.links:
                raise LinkTraversalError(f"member {name!r} would be written through a link", name)
        self.seen.add(rel)
        target = self.root.joinpath(*rel.parts)
        self._make_parents(rel, name)
        return target

    def _make_parents(self, rel: PurePosixPath, name: str) -> None:
        current = self.root
        for part in rel.parts[:-1]:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                os.mkdir(current, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise LinkTraversalError(f"member {name!r} would be written through a link", name)

    def directory(self, rel: PurePosixPath, name: str) -> None:
        if ".git" in rel.parts:
            return
        if rel in self.links or (rel in self.seen and rel not in self.dirs):
            raise DuplicateMemberError(f"member {name!r} appears twice", name)
        self._make_parents(rel, name)
        path = self.root.joinpath(*rel.parts)
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise DuplicateMemberError(f"member {name!r} appears twice", name) from None
        self.seen.add(rel)
        self.dirs.add(rel)

    def file(
        self, rel: PurePosixPath, name: str, source: IO[bytes], mode: int, declared: int
    ) -> None:
        if declared > self.limits.max_member_bytes:
            raise MemberTooLargeError(
                f"member {name!r} is larger than {self.limits.max_member_bytes} bytes", name
            )
        target = self._claim(rel, name)
        final_mode = 0o755 if mode & 0o111 else 0o644  # setuid, setgid and sticky bits dropped
        sink = None
        if target is not None:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            sink = os.fdopen(fd, "wb")
        written = 0
        try:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                self.total += len(chunk)
                if written > self.limits.max_member_bytes:
                    raise MemberTooLargeError(
                        f"member {name!r} is larger than {self.limits.max_member_bytes} bytes", name
                    )
                if self.total > self.limits.max_total_bytes:
                    raise ArchiveTooLargeError(
                        f"the archive unpacks to more than {self.limits.max_total_bytes} bytes",
                        name,
                    )
                if sink is not None:
                    sink.write(chunk)
        finally:
            if sink is not None:
                sink.close()
        if target is not None:
            os.chmod(target, final_mode)
            self.files += 1

    def symlink(self, rel: PurePosixPath, name: str, link_target: str) -> None:
        if not link_target or "\0" in link_target or link_target.startswith("/"):
            raise LinkEscapeError(f"link {name!r} points outside the tree ({link_target!r})", name)
        resolved = os.path.normpath(os.path.join(str(rel.parent), link_target))
        if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
            raise LinkEscapeError(f"link {name!r} points outside the tree ({link_target!r})", name)
        target = self._claim(rel, name)
        self.links.add(rel)
        if target is not None:
            os.symlink(link_target, target)


def extract_archive(
    stream: BinaryIO, dest: Path, limits: ArchiveLimits | None = None
) -> ExtractResult:
    """Extract a tar (any compression) or zip read from ``stream`` into the empty ``dest``.

    One top-level folder that wraps everything is stripped, as GitHub and GitLab archives need.
    On any failure ``dest`` is deleted and the error (an :class:`UnsafeArchiveError` subclass
    naming the member) propagates.
    """
    limits = limits or ArchiveLimits()
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty")
    extractor = _Extractor(dest, limits)
    try:
        head = _peek(stream, 6)
        if head.data[:4] in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
            _extract_zip(head, extractor, limits)
        else:
            _extract_tar(head, extractor)
        stripped = _strip_single_folder(dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return ExtractResult(files=extractor.files, bytes=extractor.total, stripped=stripped)


class _Peeked:
    """A stream with its first bytes read ahead and given back."""

    def __init__(self, stream: BinaryIO, data: bytes) -> None:
        self.stream = stream
        self.data = data
        self._pending = data

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            if size < 0:
                out, self._pending = self._pending + self.stream.read(), b""
                return out
            out, self._pending = self._pending[:size], self._pending[size:]
            if len(out) < size:
                out += self.stream.read(size - len(out))
            return out
        return self.stream.read(size)


def _peek(stream: BinaryIO, size: int) -> _Peeked:
    return _Peeked(stream, stream.read(size))


def _extract_tar(stream: _Peeked, ex: _Extractor) -> None:
    kind = kind_of(stream.data)
    source: Any = stream
    if kind != "none":
        # Our own bounded decompression, never tarfile's (see decompress.py); the bound is the
        # unpacked limit plus the tar headers and padding of every member allowed.
        headers = 1536 * (ex.limits.max_members + 4)
        source = BoundedDecompressor(
            stream, kind, ex.limits.max_total_bytes + headers, max_ratio=ex.limits.max_ratio
        )
    try:
        with tarfile.open(fileobj=source, mode="r|") as tar:
            for member in tar:
                _tar_member(tar, member, ex)
    except tarfile.TarError as exc:
        raise CorruptArchiveError(f"not a readable tar or zip archive: {exc}") from None
    except (EOFError, OSError, ValueError) as exc:
        if isinstance(exc, MacheteError):
            raise
        raise CorruptArchiveError(f"the archive is truncated or corrupt: {exc}") from None


def _tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, ex: _Extractor) -> None:
    name = member.name
    ex.count(name)
    rel = member_path(name)
    if member.islnk():
        raise HardlinkError(f"member {name!r} is a hard link (refused)", name)
    if (
        member.ischr()
        or member.isblk()
        or member.isfifo()
        or not (member.isfile() or member.isdir() or member.issym())
    ):
        raise SpecialFileError(f"member {name!r} is a device, FIFO or other special file", name)
    if rel is None:
        if not member.isdir():
            raise BadNameError(f"member name {name!r} is empty", name)
        return
    if member.isdir():
        ex.directory(rel, name)
    elif member.issym():
        ex.symlink(rel, name, member.linkname)
    else:
        source = tar.extractfile(member)
        assert source is not None
        ex.file(rel, name, source, member.mode, member.size)


def _extract_zip(stream: _Peeked, ex: _Extractor, limits: ArchiveLimits) -> None:
    # zip needs random access: spool to an anonymous temporary file, counting bytes.
    with tempfile.TemporaryFile(prefix="machete-zip-") as spool:
        size = 0
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limits.max_total_bytes:
                raise ArchiveTooLargeError(
                    f"the archive is larger than {limits.max_total_bytes} bytes"
                )
            spool.write(chunk)
        spool.seek(0)
        try:
            with zipfile.ZipFile(spool) as zf:
                for info in zf.infolist():
                    _zip_member(zf, info, ex)
        # zipfile raises NotImplementedError for compression methods it does not support.
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            raise CorruptArchiveError(f"not a readable zip archive: {exc}") from None


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, ex: _Extractor) -> None:
    name = info.filename
    ex.count(name)
    rel = member_path(name)
    unix_mode = info.external_attr >> 16
    kind = stat.S_IFMT(unix_mode)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
        raise SpecialFileError(f"member {name!r} is a device, FIFO or other special file", name)
    if rel is None:
        return
    if info.is_dir() or kind == stat.S_IFDIR:
        ex.directory(rel, name)
        return
    with zf.open(info) as source:
        if kind == stat.S_IFLNK:
            target = source.read(4097)
            if len(target) > 4096:
                raise LinkEscapeError(f"link {name!r} has an over-long target", name)
            ex.symlink(rel, name, target.decode("utf-8", errors="replace"))
        else:
            ex.file(rel, name, source, unix_mode, info.file_size)


def _strip_single_folder(dest: Path) -> str | None:
    entries = list(dest.iterdir())
    if len(entries) != 1 or entries[0].is_symlink() or not entries[0].is_dir():
        return None
    wrapper = entries[0]
    temp = dest / f".machete-strip-{os.getpid()}"
    wrapper.rename(temp)
    for child in temp.iterdir():
        child.rename(dest / child.name)
    temp.rmdir()
    return wrapper.name
