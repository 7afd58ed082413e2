"""Volume directories: made and moved beneath MACHETE's own roots, never through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from machete_core import beneath
from machete_core.domain.spec import VolumeSpec
from machete_core.errors import VolumeNotAllowedError
from machete_core.pipeline.volumes import (
    DATA,
    prepare_mounts,
    resolve_mounts,
    volume_slug,
)
from machete_core.settings import Settings


def test_each_volume_gets_its_own_directory(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    vols = (VolumeSpec("./data", "/d"), VolumeSpec("data/db", "/db"), VolumeSpec(".", "/all"))
    mounts = resolve_mounts(vols, settings, "t")
    sources = [Path(m.source) for m in mounts]
    assert sources[0] == tmp_path / "volumes" / "t" / "data"
    assert len(set(sources)) == 3 and all(s.parent == tmp_path / "volumes" / "t" for s in sources)
    assert volume_slug(("data", "db")) != volume_slug(("data_db",))
    assert resolve_mounts((DATA,), settings, "t")[0].source == mounts[0].source


@pytest.mark.parametrize("host", ["../x", "a/../../x", "/etc"])
def test_climbing_or_absolute_hosts_are_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(VolumeNotAllowedError):
        resolve_mounts((VolumeSpec(host, "/x"),), Settings(home=tmp_path), "t")


def test_a_planted_link_is_never_followed_when_making_directories(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    home = tmp_path / "home"
    (home / "volumes").mkdir(parents=True)
    # As if a tool had managed to link a directory of ours elsewhere.
    os.symlink(outside, home / "volumes" / "t")
    with pytest.raises(beneath.UnsafePathError):
        beneath.ensure_dir(home, ("volumes", "t", "data"))
    assert list(outside.iterdir()) == []


def test_old_layout_data_is_moved_once_and_links_are_left_behind(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    host_etc = tmp_path / "host-etc"
    host_etc.mkdir()
    (host_etc / "passwd").write_text("secret\n")
    legacy = settings.home / "tools" / "t"
    (legacy / "data").mkdir(parents=True)
    (legacy / "data" / "note.txt").write_text("kept\n")
    # The attack: the tool linked its data directory to the host, then declared a volume
    # through the link.
    os.symlink(tmp_path, legacy / "data" / "rootlink")
    vols = (VolumeSpec("./data/rootlink/host-etc", "/x"),)
    mounts = resolve_mounts(vols, settings, "t")
    lines: list[str] = []
    prepare_mounts((*vols, DATA), settings, "t", lines.append)
    data = settings.home / "volumes" / "t" / "data"
    assert (data / "note.txt").read_text() == "kept\n"
    attacked = Path(mounts[0].source)
    assert attacked.is_dir() and not attacked.is_symlink() and list(attacked.iterdir()) == []
    assert os.path.realpath(attacked) == str(attacked)
    assert (host_etc / "passwd").read_text() == "secret\n" and host_etc.exists()
    assert any("symbolic link" in line for line in lines)
    # Twice is a no-op: the data is already in place.
    prepare_mounts((*vols, DATA), settings, "t", lines.append)
    assert (data / "note.txt").read_text() == "kept\n"


def test_a_link_swapped_in_at_the_last_moment_is_dropped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("/", src / "data")  # a link where a directory was expected
    dst = tmp_path / "dst"
    dst.mkdir()
    assert beneath.move_dir(src, ("data",), dst, ("v", "data")) == "refused"
    assert not (dst / "v" / "data").exists() and not (dst / "v" / "data").is_symlink()


def test_walk_files_skips_links_and_fifos(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    os.symlink("/etc/passwd", tmp_path / "d" / "link")
    os.symlink("/etc", tmp_path / "dirlink")
    os.mkfifo(tmp_path / "fifo")
    seen = {rel: fd >= 0 for rel, fd, _st in beneath.walk_files(tmp_path)}
    assert seen == {"d": False, "d/f": True}
