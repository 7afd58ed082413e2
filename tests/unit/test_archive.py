"""Every archive row of threats.md: hostile archives built in memory, extracted for real."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from machete_core.sources.archive import (
    ArchiveLimits,
    UnsafeArchiveError,
    extract_archive,
    member_path,
)
from machete_core.sources.digest import tree_digest
from tests.support.archives import (
    TOOL_TREE,
    directory,
    file,
    link,
    special,
    tar_bytes,
    tool_tar,
    zip_bytes,
)


def extract(tmp_path: Path, data: bytes, limits: ArchiveLimits | None = None) -> Path:
    dest = tmp_path / "box" / "dest"
    extract_archive(io.BytesIO(data), dest, limits)
    return dest


def refused(
    tmp_path: Path, data: bytes, code: str, limits: ArchiveLimits | None = None
) -> UnsafeArchiveError:
    box = tmp_path / "box"
    with pytest.raises(UnsafeArchiveError) as info:
        extract(tmp_path, data, limits)
    assert info.value.code == code, info.value.message
    assert not (box / "dest").exists()  # the partial tree is deleted
    outside = [p for p in box.rglob("*")] if box.exists() else []
    assert outside == []  # nothing was written beside it either
    return info.value


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tool_tarball_with_wrapper_folder_is_stripped(tmp_path: Path, mode: str) -> None:
    dest = extract(tmp_path, tool_tar(mode=mode))
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(
        TOOL_TREE
    )
    assert (dest / "www" / "index.html").read_bytes() == TOOL_TREE["www/index.html"]


def test_zip_with_wrapper_folder(tmp_path: Path) -> None:
    dest = extract(tmp_path, zip_bytes({f"repo-1.0/{k}": v for k, v in TOOL_TREE.items()}))
    assert (dest / "Dockerfile").is_file() and not (dest / "repo-1.0").exists()


def test_no_strip_when_several_top_level_entries(tmp_path: Path) -> None:
    dest = extract(tmp_path, tool_tar(prefix=""))
    assert (dest / "www").is_dir() and (dest / "Dockerfile").is_file()


def test_digest_ignores_member_order_and_timestamps(tmp_path: Path) -> None:
    items = [file(f"t/{k}", v) for k, v in TOOL_TREE.items()]
    for i, (info, _d) in enumerate(items):
        info.mtime = 1000 + i
    a = extract(tmp_path / "a", tar_bytes(items))
    reordered = list(reversed([file(f"t/{k}", v) for k, v in TOOL_TREE.items()]))
    b = extract(tmp_path / "b", tar_bytes(reordered, "w:gz"))
    c = extract(tmp_path / "c", zip_bytes({f"x/{k}": v for k, v in TOOL_TREE.items()}))
    assert tree_digest(a) == tree_digest(b) == tree_digest(c)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../x", "archive_path_traversal"),
        ("a/../../x", "archive_path_traversal"),
        ("a/../b", "archive_path_traversal"),
        ("/abs", "archive_absolute_path"),
        ("//abs", "archive_absolute_path"),
        ("C:/x", "archive_absolute_path"),
        ("a\\..\\x", "archive_bad_name"),
    ],
)
def test_bad_member_names(tmp_path: Path, name: str, code: str) -> None:
    err = refused(tmp_path, tar_bytes([file("ok.txt"), file(name)]), code)
    assert err.member == name


def test_nul_in_a_name_is_refused() -> None:
    # tarfile and zipfile cut names at NUL already; the check stays as a second line.
    with pytest.raises(UnsafeArchiveError) as info:
        member_path("nul\0byte")
    assert info.value.code == "archive_bad_name"


def test_empty_member_name(tmp_path: Path) -> None:
    info, data = file("")
    refused(tmp_path, tar_bytes([(info, data)]), "archive_bad_name")


def test_duplicates_after_normalization(tmp_path: Path) -> None:
    refused(
        tmp_path, tar_bytes([file("a/b", b"1"), file("./a//b", b"2")]), "archive_duplicate_member"
    )


def test_symlink_then_write_through_it(tmp_path: Path) -> None:
    # The two-step escape (CVE-2025-45582 shape): a link, then a member under it.
    refused(
        tmp_path,
        tar_bytes([link("l", "sub"), directory("sub"), file("l/pwn")]),
        "archive_link_traversal",
    )


@pytest.mark.parametrize("target", ["..", "../etc", "/etc/passwd", "a/../../x", ""])
def test_symlinks_leaving_the_tree(tmp_path: Path, target: str) -> None:
    refused(tmp_path, tar_bytes([file("x"), link("l", target)]), "archive_link_escape")


def test_chain_of_links_cannot_escape(tmp_path: Path) -> None:
    refused(
        tmp_path,
        tar_bytes([directory("a"), link("a/l1", "../b"), directory("b"), link("b/l2", "../../x")]),
        "archive_link_escape",
    )


def test_symlink_inside_the_tree_is_kept(tmp_path: Path) -> None:
    dest = extract(
        tmp_path, tar_bytes([file("t/real.txt", b"r"), link("t/alias", "real.txt"), file("t/z")])
    )
    assert os.readlink(dest / "alias") == "real.txt"


def test_every_hardlink_is_refused(tmp_path: Path) -> None:
    links_before = os.stat("/etc/passwd").st_nlink
    refused(tmp_path, tar_bytes([link("passwd", "/etc/passwd", hard=True)]), "archive_hardlink")
    refused(tmp_path, tar_bytes([file("a"), link("b", "a", hard=True)]), "archive_hardlink")
    assert os.stat("/etc/passwd").st_nlink == links_before


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_and_fifos(tmp_path: Path, kind: bytes) -> None:
    refused(tmp_path, tar_bytes([file("a"), special("dev", kind)]), "archive_special_file")


def test_modes_are_clamped(tmp_path: Path) -> None:
    dest = extract(
        tmp_path,
        tar_bytes(
            [
                file("t/suid", b"#!", 0o4755),
                file("t/sgid", b"x", 0o2644),
                file("t/plain", b"x", 0o600),
                file("t/exe", b"x", 0o700),
            ]
        ),
    )
    modes = {p.name: stat_mode(p) for p in dest.iterdir()}
    assert modes == {"suid": 0o755, "sgid": 0o644, "plain": 0o644, "exe": 0o755}
    assert all(stat_mode(p) in (0o644, 0o755) for p in dest.rglob("*"))


def stat_mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o7777


def test_git_metadata_is_not_extracted(tmp_path: Path) -> None:
    dest = extract(
        tmp_path, tar_bytes([file("t/.git/hooks/post-checkout", b"evil"), file("t/Dockerfile")])
    )
    assert not (dest / ".git").exists() and (dest / "Dockerfile").exists()


def test_too_many_members(tmp_path: Path) -> None:
    data = tar_bytes([file(f"f{i}") for i in range(60)])
    refused(tmp_path, data, "archive_too_many_members", ArchiveLimits(max_members=50))


def test_member_over_the_size_cap_by_header(tmp_path: Path) -> None:
    refused(
        tmp_path,
        tar_bytes([file("big", b"x" * 5000)]),
        "archive_member_too_large",
        ArchiveLimits(max_member_bytes=4096),
    )


def test_total_over_the_cap(tmp_path: Path) -> None:
    data = tar_bytes([file(f"f{i}", b"y" * 3000) for i in range(5)])
    refused(tmp_path, data, "archive_too_large", ArchiveLimits(max_total_bytes=10_000))


def test_header_claiming_more_than_the_stream_has(tmp_path: Path) -> None:
    raw = bytearray(tar_bytes([file("a", b"z" * 100)]))
    info = tarfile.TarInfo("a")
    info.size = 10_000_000
    raw[:512] = info.tobuf(format=tarfile.USTAR_FORMAT)[:512]
    refused(tmp_path, bytes(raw[:2048]), "archive_corrupt")


def test_zip_members_are_checked_too(tmp_path: Path) -> None:
    refused(tmp_path, zip_bytes({"../evil": b"x"}), "archive_path_traversal")
    refused(tmp_path, zip_bytes({"ok": b"x"}, symlinks={"l": "/etc"}), "archive_link_escape")


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    refused(tmp_path, b"this is not an archive at all" * 50, "archive_corrupt")


BOMB_SCRIPT = r"""
import gzip, io, resource, sys, tarfile
from pathlib import Path
from machete_core.sources.archive import ArchiveLimits, UnsafeArchiveError, extract_archive

kind, dest = sys.argv[1], Path(sys.argv[2])
limits = ArchiveLimits(64 * 1024**2, 32 * 1024**2, 20_000)
MiB = 1024**2
buf = io.BytesIO()
gz = gzip.GzipFile(fileobj=buf, mode="wb")

def member(name, declared, actual, fill=b"\0"):
    info = tarfile.TarInfo(name)
    info.size = declared
    gz.write(info.tobuf(format=tarfile.GNU_FORMAT))
    chunk = fill * MiB
    for _ in range(actual // MiB):
        gz.write(chunk)
    gz.write(fill * (actual % MiB))
    gz.write(b"\0" * (-actual % 512))

if kind == "bomb":      # 48 MiB of zeros in a small download, one honest member over the cap
    member("zeros", 48 * MiB, 48 * MiB)
elif kind == "sum":     # members under the member cap whose bytes add up past the total cap
    for i in range(4):
        member(f"z{i}", 30 * MiB, 30 * MiB)
elif kind == "lying":   # a header declaring 1 byte followed by 1 GiB of data
    member("small", 1, 1)
    for _ in range(1024):
        gz.write(b"A" * MiB)
else:                   # 300k tiny members (headers patched from one template: tobuf is slow)
    base = bytearray(tarfile.TarInfo("f000000").tobuf(format=tarfile.USTAR_FORMAT))
    batch = []
    for i in range(300_000):
        h = bytearray(base)
        h[0:7] = b"f%06d" % i
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
        batch.append(bytes(h))
        if len(batch) == 5000:
            gz.write(b"".join(batch))
            batch = []
    gz.write(b"".join(batch))
gz.close()
data = buf.getvalue()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    result = extract_archive(io.BytesIO(data), dest, limits)
    print("extracted", result.bytes)
except UnsafeArchiveError as exc:
    print(exc.code, 0)
used = sum(p.stat().st_size for p in dest.rglob("*")) if dest.exists() else 0
print(len(data), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, used)
"""


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("bomb", "archive_member_too_large"),
        ("sum", "archive_too_large"),
        ("lying", "extracted"),
        ("many", "archive_too_many_members"),
    ],
)
def test_bombs_abort_with_bounded_memory_and_disk(tmp_path: Path, kind: str, code: str) -> None:
    # timeout: a hang detector, not a speed assertion
    out = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, kind, str(tmp_path / "dest")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result, sizes = out.stdout.split("\n")[:2]
    outcome, extracted_bytes = result.split()
    compressed, rss_growth_mib, disk_bytes = (int(x) for x in sizes.split())
    assert outcome == code
    assert compressed < 10 * 1024**2  # a small download...
    assert rss_growth_mib < 200  # ...that never balloons in memory...
    assert disk_bytes <= 64 * 1024**2  # ...nor on disk past the cap
    if kind == "lying":
        # Only the declared byte is taken; the gigabyte after it is never unpacked.
        assert int(extracted_bytes) == 1 and disk_bytes == 1
    else:
        assert disk_bytes == 0  # refused: the partial tree is gone
