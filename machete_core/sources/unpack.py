"""Unpacking an untrusted archive in a child process with hard CPU, memory and time bounds.

Even with bounded decompression (decompress.py), unpacking is parsing of hostile input; a
child process cannot take the server's memory or threads with it, is killed by the kernel at
its CPU and address-space limits, and is killed by us when the operation is cancelled or runs
out of time. The archive is streamed to the child's stdin; it answers with one JSON line.

``python -m machete_core.sources.unpack DEST TOTAL MEMBER MEMBERS`` is the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from machete_core import errors
from machete_core.domain.records import CancelToken
from machete_core.errors import ArchiveTimeoutError, CancelledError, MacheteError
from machete_core.sources.archive import ArchiveLimits, ExtractResult, extract_archive

CHUNK = 256 * 1024
#: The child's address space: Python, one decompression chunk, tarfile's buffers.
MEMORY_BYTES = 512 * 1024**2


def _error_classes() -> dict[str, type[MacheteError]]:
    found: dict[str, type[MacheteError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.UnsafeArchiveError):
            found[value.code] = value
    return found


def extract_isolated(
    stream: BinaryIO,
    dest: Path,
    limits: ArchiveLimits,
    *,
    timeout: float,
    cancel: CancelToken | None = None,
    cpu_seconds: int | None = None,
) -> ExtractResult:
    """:func:`extract_archive` in a bounded child process; same result and errors."""
    import resource

    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "machete_core.sources.unpack",
        str(dest),
        str(limits.max_total_bytes),
        str(limits.max_member_bytes),
        str(limits.max_members),
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    cpu = cpu_seconds or max(1, int(timeout))
    try:
        resource.prlimit(proc.pid, resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
        resource.prlimit(proc.pid, resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (OSError, ValueError):
        pass  # the child is gone already; its answer says why
    feeder = threading.Thread(target=_feed, args=(stream, proc), daemon=True)
    feeder.start()
    deadline = time.monotonic() + timeout
    killed_for = ""
    while proc.poll() is None:
        if cancel is not None and cancel.cancelled:
            killed_for = "cancelled"
        elif time.monotonic() > deadline:
            killed_for = "timeout"
        if killed_for:
            proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    feeder.join(timeout=5)
    # The feeder owns stdin; the answer is one short line (and stderr a traceback at most).
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    if killed_for:
        _clean(dest)
        if killed_for == "cancelled":
            raise CancelledError("the unpacking was cancelled")
        raise ArchiveTimeoutError(f"unpacking the archive took longer than {timeout:g} s")
    return _answer(out, err, proc.returncode, dest)


def _feed(stream: BinaryIO, proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    try:
        while chunk := stream.read(CHUNK):
            proc.stdin.write(chunk)
    except (BrokenPipeError, OSError, ValueError):
        pass  # the child stopped reading: it refused the archive or was killed
    except MacheteError:
        pass  # the download's own budget ended it; the child sees a truncated archive
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


def _answer(out: bytes, err: bytes, code: int, dest: Path) -> ExtractResult:
    try:
        data: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        _clean(dest)
        if code < 0 or code in (137, 152):
            raise errors.ArchiveTooLargeError(
                "unpacking the archive went past its memory or CPU bound"
            ) from None
        raise errors.CorruptArchiveError(
            "the archive could not be unpacked: " + err.decode(errors="replace")[-300:]
        ) from None
    if data.get("ok"):
        return ExtractResult(files=data["files"], bytes=data["bytes"], stripped=data["stripped"])
    _clean(dest)
    cls = _error_classes().get(str(data.get("code")), errors.CorruptArchiveError)
    if issubclass(cls, errors.UnsafeArchiveError):
        raise cls(str(data.get("message")), data.get("member"))
    raise cls(str(data.get("message")))


def _clean(dest: Path) -> None:
    import shutil

    shutil.rmtree(dest, ignore_errors=True)


def _child(argv: list[str]) -> int:
    dest, total, member, members = argv
    limits = ArchiveLimits(int(total), int(member), int(members))
    try:
        result = extract_archive(sys.stdin.buffer, Path(dest), limits)
    except errors.UnsafeArchiveError as exc:
        print(
            json.dumps(
                {"ok": False, "code": exc.code, "message": exc.message, "member": exc.member}
            )
        )
        return 0
    except MemoryError:
        print(
            json.dumps(
                {
                    "ok": False,
                    "code": "archive_too_large",
                    "message": "unpacking the archive went past its memory bound",
                }
            )
        )
        return 0
    print(
        json.dumps(
            {"ok": True, "files": result.files, "bytes": result.bytes, "stripped": result.stripped}
        )
    )
    return 0


if __name__ == "__main__":
    os.environ.pop("PYTHONSTARTUP", None)
    sys.exit(_child(sys.argv[1:]))
