"""Operation logs: one append-only file per operation, readable by offset while it grows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

MAX_READ = 1024 * 1024


class OperationLog:
    """Appends lines to a file as they happen and tells listeners; thread-safe."""

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None) -> None:
        self.path = path
        self._redact = redact
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self._listeners: list[Callable[[str], None]] = []

    def add_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def write(self, line: str) -> None:
        text = line.rstrip("\n")
        if self._redact is not None:
            text = self._redact(text)
        with self._lock:
            if self._file is None:
                return
            self._file.write(text + "\n")
            self._file.flush()
        for listener in list(self._listeners):
            try:
                listener(text)
            except Exception:  # a slow or broken reader must not break the operation
                pass

    __call__ = write

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_log(path: Path, offset: int = 0, limit: int = MAX_READ) -> tuple[str, int]:
    """Return complete lines from ``offset`` (bytes) and the offset to continue from."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, offset))
            data = fh.read(limit)
    except FileNotFoundError:
        return "", offset
    end = data.rfind(b"\n")
    if end < 0:
        return "", offset
    chunk = data[: end + 1]
    return chunk.decode("utf-8", errors="replace"), offset + len(chunk)


def read_lines(path: Path, offset: int = 0, limit: int = MAX_READ) -> list[tuple[str, int]]:
    """Complete lines from ``offset``, each with the byte offset just after it: a reader that
    stops anywhere resumes at exactly the next line."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, offset))
            data = fh.read(limit)
    except FileNotFoundError:
        return []
    return read_lines_from_bytes(data, offset)


def lines_before(path: Path, offset: int, count: int) -> list[tuple[str, int]]:
    """Up to ``count`` complete lines that end at or before ``offset``, oldest first, each
    with the offset just after it (a page that keeps a window loads earlier lines on demand)."""
    if offset <= 0 or count <= 0:
        return []
    chunk = 64 * 1024
    start = offset
    data = b""
    try:
        with path.open("rb") as fh:
            # Widen the window backwards until it holds count + 1 line ends (or the start).
            while start > 0 and data.count(b"\n") <= count:
                start = max(0, start - chunk)
                fh.seek(start)
                data = fh.read(offset - start)
    except FileNotFoundError:
        return []
    if start > 0:
        cut = data.find(b"\n") + 1  # the first line is partial
        data, start = data[cut:], start + cut
    lines = read_lines_from_bytes(data, start)
    return lines[-count:]


def read_lines_from_bytes(data: bytes, offset: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    begin = 0
    while True:
        end = data.find(b"\n", begin)
        if end < 0:
            return out
        out.append((data[begin:end].decode("utf-8", errors="replace"), offset + end + 1))
        begin = end + 1
