"""Decompression that a tiny hostile archive cannot turn into a pinned core or a full memory.

``tarfile``'s own stream mode buffers decompressed data quadratically (a 1,350-byte bzip2
held a core for 18 minutes at 1.7 GiB). Here every ``read(n)`` decompresses with an output bound
of ``n`` bytes, so memory stays at a chunk, and the total output and the expansion ratio are
checked as bytes come: a bomb stops within one chunk of its limit.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Any, Protocol

from machete_core.errors import ArchiveTooLargeError, CorruptArchiveError

CHUNK = 64 * 1024
#: Compressed input is fed this much at a time, so the expansion ratio is measured against what
#: was actually used (a whole small bomb would otherwise count as consumed at the first read).
FEED = 4 * 1024
GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
#: Past this much output, more than this many bytes out per byte in is a bomb; real source
#: archives compress 3-20x, all-zero padding at most a few hundred.
RATIO_FLOOR_BYTES = 64 * 1024**2
MAX_RATIO = 1000


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


class _Gzip:
    """zlib's gzip mode behind the bz2/lzma interface (members concatenated, as gzip allows)."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._tail = b""

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._z.decompress(self._tail + data, max(max_length, 0))
        self._tail = self._z.unconsumed_tail
        return out

    @property
    def eof(self) -> bool:
        return self._z.eof

    @property
    def needs_input(self) -> bool:
        return not self._tail

    @property
    def unused_data(self) -> bytes:
        return self._z.unused_data


def kind_of(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return "none"


def _new(kind: str) -> Any:
    if kind == "gzip":
        return _Gzip()
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)


class BoundedDecompressor:
    """A file whose ``read`` yields the decompressed bytes of ``raw``, within limits."""

    def __init__(
        self, raw: Readable, kind: str, max_output: int, *, max_ratio: int | None = MAX_RATIO
    ) -> None:
        self.raw = raw
        self.max_ratio = max_ratio
        self.kind = kind
        self.max_output = max_output
        self.consumed = 0
        self.produced = 0
        self._dec: Any = _new(kind)
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size is None or size < 0 else max(1, min(size, 4 * CHUNK))
        while not self._done:
            if self._dec.eof:
                rest = self._dec.unused_data
                if rest.strip(b"\0"):
                    # Another concatenated stream (gzip and bzip2 allow it).
                    self._dec = _new(self.kind)
                    out = self._feed(rest, size)
                else:
                    more = self.raw.read(FEED)
                    if not more:
                        self._done = True
                        return b""
                    self._dec = _new(self.kind)
                    out = self._feed(more, size)
            elif self._dec.needs_input:
                data = self.raw.read(FEED)
                if not data:
                    raise CorruptArchiveError(
                        "the archive is truncated (compressed data ends early)"
                    )
                out = self._feed(data, size)
            else:
                out = self._feed(b"", size)
            if out:
                return out
        return b""

    def _feed(self, data: bytes, size: int) -> bytes:
        self.consumed += len(data)
        try:
            out: bytes = self._dec.decompress(data, size)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
            raise CorruptArchiveError(f"the archive's compressed data is corrupt: {exc}") from None
        self.produced += len(out)
        if self.produced > self.max_output:
            raise ArchiveTooLargeError(
                f"the archive decompresses to more than {self.max_output} bytes"
            )
        ratio = self.max_ratio
        if ratio and self.produced > RATIO_FLOOR_BYTES and self.produced > ratio * self.consumed:
            raise ArchiveTooLargeError(
                f"the archive expands more than {ratio} times (a decompression bomb)"
            )
        return out
