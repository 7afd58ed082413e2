"""Tiny archives that expand without end (issue 10 item 6): stopped within seconds and a
bounded memory, in a child process, and cancel stops an unpacking at once."""

from __future__ import annotations

import bz2
import io
import json
import lzma
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from machete_core.domain.records import CancelToken
from machete_core.errors import CancelledError
from machete_core.sources.archive import ArchiveLimits
from machete_core.sources.unpack import extract_isolated

MiB = 1024**2


def bomb(kind: str) -> bytes:
    """A tar whose one member claims 400 MiB of zeros (under every size cap), compressed as
    concatenated streams: a few KB that expand 10,000 times and more."""
    info = tarfile.TarInfo("zeros")
    info.size = 400 * MiB
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    compress = bz2.compress if kind == "bzip2" else lzma.compress
    block = compress(b"\0" * 16 * MiB)
    return compress(header) + block * 26


@pytest.mark.parametrize("kind", ["bzip2", "xz"])
def test_a_small_bomb_stops_fast_with_bounded_memory(tmp_path: Path, kind: str) -> None:
    data = bomb(kind)
    assert len(data) < 200_000
    (tmp_path / "bomb").write_bytes(data)
    # In a fresh process, so that its only child is the unpacker and RUSAGE_CHILDREN is its.
    script = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from machete_core.sources.archive import ArchiveLimits\n"
        "from machete_core.sources.unpack import extract_isolated\n"
        f"src, dest = Path({str(tmp_path / 'bomb')!r}), Path({str(tmp_path / 'out')!r})\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    with src.open('rb') as fh:\n"
        "        extract_isolated(fh, dest, ArchiveLimits(), timeout=60)\n"
        "    code = 'none'\n"
        "except Exception as exc:\n"
        "    code = getattr(exc, 'code', type(exc).__name__)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(json.dumps({'code': code, 'seconds': time.monotonic() - start, 'rss': rss,"
        " 'left': dest.exists()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == "archive_too_large", (result, out.stderr[-2000:])
    assert result["seconds"] < 5  # threats.md: bounded time
    assert result["rss"] < 200 * MiB  # threats.md: peak RSS < 200 MB
    assert result["left"] is False  # the partial tree is deleted


def test_cancel_stops_an_unpacking_at_once(tmp_path: Path) -> None:
    class Slow(io.RawIOBase):
        """A download that never ends: a valid tar header, then a trickle."""

        def __init__(self) -> None:
            info = tarfile.TarInfo("big")
            info.size = 100 * MiB
            self.pending = info.tobuf()

        def read(self, n: int = -1) -> bytes:
            if self.pending:
                out, self.pending = self.pending, b""
                return out
            time.sleep(0.05)
            return b"x" * 1024

    cancel = CancelToken()
    threading.Timer(0.8, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(CancelledError):
        extract_isolated(Slow(), tmp_path / "out", ArchiveLimits(), timeout=60, cancel=cancel)
    assert time.monotonic() - started < 5
    assert not (tmp_path / "out").exists()


def test_the_isolated_unpacker_gives_the_same_errors_and_results(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in (("tool/Dockerfile", b"FROM scratch\n"), ("tool/a.txt", b"a\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    result = extract_isolated(
        io.BytesIO(buf.getvalue()), tmp_path / "ok", ArchiveLimits(), timeout=30
    )
    assert result.files == 2 and result.stripped == "tool"
    assert (tmp_path / "ok" / "a.txt").read_text() == "a\n"
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../escape")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(Exception) as info_:
        extract_isolated(io.BytesIO(evil.getvalue()), tmp_path / "bad", ArchiveLimits(), timeout=30)
    assert getattr(info_.value, "code", "") == "archive_path_traversal"
    assert getattr(info_.value, "member", "") == "../escape"
